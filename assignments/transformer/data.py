"""おもちゃのタスク（コピー・反転・ソート）のデータ。このファイルは完成済みです（TODO はありません）。

系列の約束:
- トークン ID 0, 1, 2 は特別なトークン PAD（穴埋め）, BOS（文頭）, EOS（文末）です。
- 記号は ID 3 から始まります。記号が ``num_symbols`` 種類なら語彙サイズは ``num_symbols + 3`` です。
- ``src`` は記号の列、``tgt`` は ``[BOS] + 変換した列 + [EOS]`` です。
- バッチにするときは、短い系列の後ろを PAD で埋めます。
"""

import random

import torch
from torch.utils.data import DataLoader

PAD_IDX = 0
BOS_IDX = 1
EOS_IDX = 2
NUM_SPECIAL_TOKENS = 3

TASKS = {
    "copy": lambda symbols: list(symbols),
    "reverse": lambda symbols: list(reversed(symbols)),
    "sort": sorted,
}


def vocab_size_for(num_symbols):
    """記号の種類数から、特別なトークンを含めた語彙サイズを返します。"""
    return num_symbols + NUM_SPECIAL_TOKENS


def make_split(task, num_train, num_test, num_symbols=10, min_len=1, max_len=10, seed=0):
    """重複のない系列を作り、学習用と評価用に分けます（評価用の系列は学習用に現れません）。

    引数:
        task: ``TASKS`` のキー（"copy", "reverse", "sort"）
        num_train, num_test: 学習用・評価用の例の数
        num_symbols: 記号の種類数
        min_len, max_len: 記号列の長さの範囲（両端を含む）
        seed: 乱数の種。同じ種なら同じデータになります。
    戻り値:
        ``(train, test)``。それぞれ ``(src, tgt)`` の 1 次元 LongTensor の組のリスト。
    """
    transform = TASKS[task]
    rng = random.Random(seed)
    sequences = set()
    while len(sequences) < num_train + num_test:
        length = rng.randint(min_len, max_len)
        sequences.add(tuple(rng.randrange(num_symbols) + NUM_SPECIAL_TOKENS for _ in range(length)))
    ordered = sorted(sequences)
    rng.shuffle(ordered)
    pairs = [_make_pair(symbols, transform) for symbols in ordered]
    return pairs[:num_train], pairs[num_train:]


def _make_pair(symbols, transform):
    src = torch.tensor(symbols, dtype=torch.long)
    tgt = torch.tensor([BOS_IDX, *transform(symbols), EOS_IDX], dtype=torch.long)
    return src, tgt


def pad_sequences(sequences, pad_idx=PAD_IDX):
    """長さの違う 1 次元 LongTensor を後ろから PAD で埋めて (B, L_max) にします。"""
    return torch.nn.utils.rnn.pad_sequence(sequences, batch_first=True, padding_value=pad_idx)


def collate(pairs, pad_idx=PAD_IDX):
    """``(src, tgt)`` の組のリストを、PAD で埋めた ``(src (B, S), tgt (B, T))`` にまとめます。"""
    sources, targets = zip(*pairs)
    return pad_sequences(sources, pad_idx), pad_sequences(targets, pad_idx)


def make_loader(pairs, batch_size, shuffle=True, seed=0):
    """``(src, tgt)`` のバッチを返す DataLoader。シャッフルの順番も ``seed`` で固定されます。"""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(pairs, batch_size=batch_size, shuffle=shuffle, collate_fn=collate, generator=generator)
