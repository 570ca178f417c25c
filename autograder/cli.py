"""`jisaku`: the kit's command line."""

import argparse
import sys
from pathlib import Path

import torch

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
    from autograder.grader.launcher import SandboxUnavailable

    try:
        rows = grade_batch(args.submissions, args.out, jobs=args.jobs, regrade=args.regrade, unsandboxed=args.unsandboxed)
    except SandboxUnavailable as error:
        print(error, file=sys.stderr)
        return 2
    print_summary(rows)
    graded_all = print_protections(args.out)
    print(f"結果: {Path(args.out) / 'gradebook.sqlite'}（CSV: gradebook.csv、得点の分布とユニットごとの得点率の図: summary.png）、学生ごとの results.json と feedback.md")
    return 0 if graded_all and not read_refusals(args.out) else 1


def _demo(args):
    """The main job on the built-in examples: release, build the example submissions, grade them."""
    from autograder.grader.batch import grade_batch, print_protections, print_summary
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
    print_summary(grade_batch([examples], out, jobs=args.jobs, regrade=True))
    print_protections(out)
    print(f"成績簿: {out / 'gradebook.sqlite'}（CSV: {out / 'gradebook.csv'}）、図: {out / 'summary.png'}、フィードバック: {out}/<学生>/feedback.md")
    return 0


def _gradescope(args):
    from autograder.outputs.gradescope import build_autograder_zip

    print(f"Gradescope 用の autograder.zip: {build_autograder_zip(args.zip_path)}")
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
    grade.add_argument("--unsandboxed", action="store_true",
                       help="隔離なしで採点する（bubblewrap も名前空間も使えないとき。結果に記録される）/ grade without a sandbox (recorded in every result)")
    grade.set_defaults(run=_grade)

    gradescope = commands.add_parser(
        "gradescope", help="Gradescope 用の autograder.zip を作ります / build autograder.zip for Gradescope"
    )
    gradescope.add_argument("zip_path", nargs="?", default="build/autograder.zip", help="出力先 / output path")
    gradescope.set_defaults(run=_gradescope)

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
