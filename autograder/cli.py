"""`jisaku`: the kit's command line."""

import argparse
import sys
from pathlib import Path

import torch

from autograder.grader.rubric import RUBRIC
from autograder.outputs.exports import CANVAS_ID_COLUMNS, DEFAULT_ASSIGNMENT, FORMATS
from autograder.outputs.gradescope import DEFAULT_HIDDEN_VISIBILITY, HIDDEN_VISIBILITIES
from autograder.outputs.html_report import REPORT_FOLDER
from autograder.paths import ASSIGNMENTS


def _train(args):
    from autograder.authoring.toy_training import ToyConfig, train_toy

    torch.set_num_threads(args.threads)
    config = ToyConfig(task=args.task, num_epochs=args.epochs, seed=args.seed)
    report, _ = train_toy(config)
    print(f"タスク: {config.task}  評価用 {config.num_test} 系列での完全一致率（貪欲デコード）: {report.final_accuracy:.1%}")
    print(f"学習時間: {report.seconds[-1]:.1f} 秒（{len(report.seconds)} エポック）")
    return 0 if report.final_accuracy >= 0.99 else 1


def _release(args):
    from autograder.authoring.release import build_bundle, release

    written = release()
    print(f"assignments/ を solutions/ から生成しました（{len(written)} ファイル）")
    if args.zip:
        print(f"学生用の配布 zip: {build_bundle(zip_path=args.zip)}")
    return 0


def _check(args):
    from autograder.paths import load_module

    check = load_module(Path(args.folder) / "check.py", "jisaku_student_check")
    return 0 if check.run_check(*args.parts) else 1


def _grade(args):
    from autograder.grader.batch import grade_batch, print_protections, print_summary, read_refusals
    from autograder.grader.intake import Roster, RosterError
    from autograder.grader.launcher import SandboxUnavailable
    from autograder.grader.rubric import RubricError

    try:
        roster = Roster(args.roster) if args.roster else None
        rows = grade_batch(args.submissions, args.out, jobs=args.jobs, regrade=args.regrade, unsandboxed=args.unsandboxed, roster=roster,
                           rubric=args.rubric)
    except (SandboxUnavailable, RosterError, RubricError) as error:
        print(error, file=sys.stderr)
        return 2
    print_summary(rows)
    graded_all = print_protections(args.out)
    print(f"結果: {Path(args.out) / 'gradebook.sqlite'}（ケースごとの CSV: gradebook.csv、学生ごとの成績: grades.csv・moodle.csv・canvas.csv、"
          "得点の分布とユニットごとの得点率の図: summary.png）、学生ごとの results.json と feedback.md\n"
          f"先生用のレポート（ブラウザで開く）: {Path(args.out) / REPORT_FOLDER / 'index.html'}")
    return 0 if graded_all and not read_refusals(args.out) else 1


def _demo(args):
    """The main job on the built-in examples: release, build the example submissions, grade them."""
    from autograder.grader.batch import grade_batch, print_protections, print_summary
    from autograder.grader.rubric import RubricError
    from autograder.authoring.examples import EXAMPLES, build_examples
    from autograder.paths import ROOT
    from autograder.authoring.release import release

    print(f"1/3 リリース: assignments/ を生成しました（{len(release())} ファイル）")
    examples = ROOT / "build" / "examples"
    build_examples(examples)
    print(f"2/3 例の提出物 {len(EXAMPLES)} 件を {examples} に用意しました")
    for example in EXAMPLES:
        print(f"    {example.name}: {example.description}")
    out = ROOT / "build" / "demo-grades"
    print(f"3/3 採点（--jobs {args.jobs}）")
    try:
        print_summary(grade_batch([examples], out, jobs=args.jobs, regrade=True))
    except RubricError as error:
        print(error, file=sys.stderr)
        return 2
    print_protections(out)
    print(f"成績簿: {out / 'gradebook.sqlite'}（CSV: {out / 'gradebook.csv'}）、図: {out / 'summary.png'}、"
          f"先生用のレポート（ブラウザで開く）: {out / REPORT_FOLDER / 'index.html'}、フィードバック: {out}/<学生>/feedback.md")
    return 0


def _gradescope(args):
    from autograder.grader.rubric import RubricError, load_rubric
    from autograder.outputs.gradescope import build_autograder_zip

    try:
        load_rubric()  # the zip carries rubric.toml: a problem in it is said now, not in every student's result
    except RubricError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"Gradescope 用の autograder.zip: {build_autograder_zip(args.zip_path, args.hidden_visibility)}")
    return 0


def _export(args):
    from autograder.grader.batch import GRADEBOOK
    from autograder.outputs.exports import ExportSettings, write_exports
    from autograder.outputs.gradebook import Gradebook

    database = Path(args.out) / GRADEBOOK
    if not database.is_file():
        print(f"成績簿 {database} がありません。先に jisaku grade --out {args.out} で採点してください。/ no gradebook there", file=sys.stderr)
        return 2
    gradebook = Gradebook(database)
    try:
        paths = write_exports(gradebook, args.out, args.format or list(FORMATS), ExportSettings(args.assignment, args.canvas_id_column))
    finally:
        gradebook.close()
    print("書き出しました / written: " + "、".join(str(path) for path in paths))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="jisaku",
        description="自作Transformer演習キット / jisaku-transformer exercise kit",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser(
        "train",
        help="参照解の Transformer をおもちゃのタスクで学習し、正解率を表示します / train the reference model on a toy task",
    )
    train.add_argument("--task", default="reverse", choices=["copy", "reverse", "sort"], help="タスク / task")
    train.add_argument("--epochs", type=int, default=4, help="エポック数 / epochs")
    train.add_argument("--seed", type=int, default=0, help="乱数の種 / random seed")
    train.add_argument("--threads", type=int, default=1, help="PyTorch のスレッド数 / torch threads")
    train.set_defaults(run=_train)

    release = commands.add_parser(
        "release", help="solutions/ から学生用の assignments/ を生成します / generate assignments/ from solutions/"
    )
    release.add_argument("--zip", metavar="PATH", help="学生用の配布 zip も作る / also build the student bundle zip")
    release.set_defaults(run=_release)

    check = commands.add_parser(
        "check", help="目に見えるテストで進み具合を確かめます / run the visible tests and show progress per part"
    )
    check.add_argument("parts", nargs="*", help="パート（省略時はすべて）/ parts (default: all)")
    check.add_argument("--folder", default=str(ASSIGNMENTS), help="学生のフォルダ / the student folder")
    check.set_defaults(run=_check)

    grade = commands.add_parser(
        "grade", help="提出物を採点します / grade submissions (folders or .zip files, or folders of them)"
    )
    grade.add_argument("submissions", nargs="+", help="提出物 / submissions")
    grade.add_argument("--out", required=True, help="結果の出力先 / output folder")
    grade.add_argument("--jobs", type=int, default=1, help="並列に動かすワーカー数 / parallel workers")
    grade.add_argument("--regrade", action="store_true", help="変更のない提出物も採点し直す / regrade unchanged submissions")
    grade.add_argument("--rubric", default=str(RUBRIC),
                       help="配点ファイル（変えると保存済みの結果をコードを実行せずに採点し直す）/ the rubric (a change re-scores stored results)")
    grade.add_argument("--roster", metavar="CSV",
                       help="LMS の名前や番号を学生 ID に対応させる名簿（列 student_id, name, lms_id）/ roster mapping LMS names and ids to student ids")
    grade.add_argument("--unsandboxed", action="store_true",
                       help="隔離なしで採点する（bubblewrap も名前空間も使えないとき。結果に記録される）/ grade without a sandbox (recorded in every result)")
    grade.set_defaults(run=_grade)

    gradescope = commands.add_parser(
        "gradescope", help="Gradescope 用の autograder.zip を作ります / build autograder.zip for Gradescope"
    )
    gradescope.add_argument("zip_path", nargs="?", default="build/autograder.zip", help="出力先 / output path")
    gradescope.add_argument("--hidden-visibility", choices=HIDDEN_VISIBILITIES, default=DEFAULT_HIDDEN_VISIBILITY,
                            help="隠しテストの期待値を学生に見せる時期: 締め切り後・見せない・すぐ（点数と合否はいつも見える）"
                                 " / when students see a hidden case's expected values (scores and pass/fail are always shown)")
    gradescope.set_defaults(run=_gradescope)

    export = commands.add_parser(
        "export", help="成績簿から学生ごとの成績 CSV（表計算用・Moodle・Canvas）を書き出します / write per-student grade CSVs from a gradebook"
    )
    export.add_argument("out", help="jisaku grade の出力先（gradebook.sqlite のあるフォルダ）/ the grade command's output folder")
    export.add_argument("--format", action="append", choices=list(FORMATS),
                        help="書き出す形式（繰り返し可。省略時はすべて）/ a format to write (repeatable; default: all)")
    export.add_argument("--assignment", default=DEFAULT_ASSIGNMENT,
                        help="Moodle の評定項目・Canvas の課題の名前（Canvas では「名前 (課題 ID)」も可）/ the grade item's or assignment's name")
    export.add_argument("--canvas-id-column", choices=CANVAS_ID_COLUMNS, default=CANVAS_ID_COLUMNS[0],
                        help="Canvas の CSV で学生 ID を入れる列 / the Canvas column that holds the student id")
    export.set_defaults(run=_export)

    demo = commands.add_parser(
        "demo", help="リリースして、組み込みの例の提出物を採点します / release, then grade the bundled example submissions"
    )
    demo.add_argument("--jobs", type=int, default=2, help="並列に動かすワーカー数 / parallel workers")
    demo.set_defaults(run=_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
