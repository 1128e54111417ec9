"""textnorm.fold's fast path (full-width forms and t2s in one translate, NFKC only when still needed)
gives what NFKC + lower case + traditional -> simplified gives, on every kind of character."""
from __future__ import annotations

import random
import unicodedata

from wxbot import textnorm

# ASCII, full-width forms, CJK (unified, compatibility, Kangxi radicals), combining marks, Latin with
# accents, punctuation, enclosed CJK, emoji, Hangul
RANGES = [(0x20, 0x7F), (0xFF01, 0xFF5F), (0x4E00, 0x9FFF), (0xF900, 0xFB00), (0x300, 0x370), (0x2F00, 0x2FE0),
          (0x3000, 0x3040), (0xC0, 0x250), (0x2000, 0x2070), (0x3200, 0x3400), (0x1F300, 0x1F400), (0xAC00, 0xAD00)]


def reference(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower().translate(textnorm._ts_table())


def test_fold_equals_nfkc_lower_and_t2s():
    rng = random.Random(7)
    traditional = list(textnorm._ts_table())
    samples = ["ＡＢＣ，你好！　價格多少？", "ｋｅｙ哪裡買", "Ｉ paid ¥５６０", "\uf900\u2f00兩", "e\u0301 İ ǅ", "烟〩ｇ「͡薴̫"]
    for _ in range(20000):
        samples.append("".join(chr(rng.choice(traditional)) if rng.random() < 0.3 else chr(rng.randrange(*rng.choice(RANGES)))
                               for _ in range(rng.randint(1, 12))))
    wrong = [s for s in samples if textnorm.fold(s) != reference(s)]
    assert wrong == []
    assert textnorm.fold("ＡＢＣ，價格！") == "abc,价格!"
