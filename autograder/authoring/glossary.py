"""The one glossary of everything a student reads: the term to use, its English, and the spellings it replaces.

The release prints it in the bundle's README (`bundle_readme.py`); `tests/test_glossary.py` fails
when a replaced spelling appears in the released bundle, a hidden case's messages or a hint.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    japanese: str
    english: str
    replaces: tuple = ()  # spellings that must not appear anywhere a student reads


GLOSSARY = (
    Term("テンソル", "tensor"),
    Term("形状", "shape", ("シェイプ",)),
    Term("勾配", "gradient"),
    Term("学習モード / 評価モード", "training mode / evaluation mode (`model.train()` / `model.eval()`)", ("訓練モード", "推論モード")),
    Term("交差エントロピー", "cross entropy", ("クロスエントロピー",)),
    Term("アテンション", "attention", ("注意の重み", "注意の計算", "注意を計算", "注意（attention）")),
    Term("セルフアテンション", "self-attention", ("自己注意",)),
    Term("クロスアテンション", "cross-attention", ("cross-attention",)),
    Term("スケール化内積アテンション", "scaled dot-product attention", ("スケール化内積注意", "スケール付き内積")),
    Term("マルチヘッドアテンション", "multi-head attention", ("マルチヘッド注意",)),
    Term("クエリ・キー・バリュー", "query, key, value"),
    Term("パディングマスク / 因果マスク", "padding mask / causal mask"),
    Term("位置エンコーディング", "positional encoding", ("位置符号化",)),
    Term("埋め込み", "embedding", ("エンベディング",)),
    Term("全結合層（位置ごとの）", "position-wise feed-forward network", ("フィードフォワード",)),
    Term("残差接続", "residual connection"),
    Term("層正規化（LayerNorm）", "layer normalization", ("正規化層",)),
    Term("エンコーダ / デコーダ", "encoder / decoder", ("エンコーダー", "デコーダー")),
    Term("教師強制", "teacher forcing"),
    Term("貪欲デコード", "greedy decoding", ("グリーディ",)),
)


def replaced_spellings(text):
    """The replaced spellings that `text` contains, each with the term to use instead."""
    return [(spelling, term.japanese) for term in GLOSSARY for spelling in term.replaces if spelling in text]
