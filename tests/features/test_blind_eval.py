"""The blind FAQ evaluation sets through the real webhook, as regression floors.

The sets were written by helpers who saw only the seed FAQ and the answers (never the matcher, the
synonyms, the examples or the other sets): ``faq_eval_blind_heldout.yaml`` before the matcher work and
``faq_eval_blind_final.yaml`` at the end, run once; ``faq_eval_blind_final2.yaml`` by a third writer at
the end of the next round, run once; ``faq_eval_blind_final3.yaml`` by a fourth writer in round 3 and
``faq_eval_blind_final4.yaml`` by a fifth in round 4 and ``faq_eval_blind_final5.yaml`` by a sixth in
round 5, ``faq_eval_blind_final6.yaml`` by a seventh and ``faq_eval_blind_final7.yaml`` by an eighth
later in round 5, ``faq_eval_blind_final8.yaml`` by a tenth in round 6 and ``faq_eval_blind_final9.yaml`` by a fourteenth at
its end, ``faq_eval_blind_final10.yaml`` by a sixteenth at the end of round 7, ``faq_eval_blind_final11.yaml`` by a twenty-first at
the end of round 8, each run once when it came. The floors are what they measure now (raised when the FAQ's
examples grew by a blind writer's 889 phrasings, round 3; raised again in round 4 by another blind
writer's 482 indirect, long, pre-sale and route phrasings, the tickets intake's purchase-and-fault rule,
the linear classifier and the calibrated thresholds; in round 5 by a long message's question scored
with its context, the everyday-word homophone guard and three more writers' 396 + 289 + 187 phrasings and the intake's round-5 rules; in round 6 by a ninth writer's 282 phrasings, the Cantonese words, more English glosses and pinyin
typed in Latin letters read as the FAQ's words; in round 7 by more of that pinyin read (a rare everyday word no
rival, the everyday words around the FAQ's), net slang, the intake's yes/no-question guard and
its rules from a second blind tune set of order reports (final10's reports 25 -> 27, after it ran once); in round 8 by
Latin pinyin read with the FAQ's own texts as its word counts and the 247 + 252 indirect, typo, colloquial and long
phrasings of an eighteenth and a nineteenth writer (final2 then answers one off-topic message with a FAQ fact, and one question fewer when the 4 examples equal to a
final11 case were removed); in round 9 by a twenty-second writer's 229 indirect phrasings and the intake's rules from a
fourth blind tune set of order reports (top-ups not credited, paid orders shown unpaid, Cantonese and IME typos:
orders of final, final6 and final10 up by one or two, held-out 282 -> 283, final5 289 -> 290, final2 272 -> 271), and
later by a twenty-fourth writer's 250 indirect and long phrasings (tune18: final2 +1, final3, final5, final8 and
final9 +2 each, no set down; final11 285 when the 7 examples equal to a final12 case were removed);
``faq_eval_blind_final12.yaml`` by a twenty-fifth writer at the end of round 9, run once; then, from an off-topic
blind tune set (tune19), more products of others (final2 272 -> 271); then a twenty-eighth writer's 250 short
indirect phrasings (tune21: held-out 283 -> 284, final, final2, final7, final8 +1, final9 -1); see the
issue notes); they guard against
regressions and are not targets. final2's passwords fell from 30 to 29 in round 7 when the four faq.yaml
examples that equalled a final10 case were removed, as every example equal to a held-out or final case is.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

DATA = Path(__file__).parents[1] / "data"
# set -> (right, wrong at most, passwords, order reports, off-topic answered with a fact at most)
FLOORS = {"heldout": (284, 0, 30, 29, 0), "final": (290, 1, 30, 30, 0), "final2": (272, 0, 29, 30, 1),
          "final3": (290, 0, 30, 30, 0), "final4": (288, 0, 29, 30, 1), "final5": (292, 1, 29, 29, 1),
          "final6": (292, 0, 30, 29, 0), "final7": (286, 1, 30, 29, 1), "final8": (291, 1, 30, 29, 0),
          "final9": (284, 1, 29, 30, 0), "final10": (287, 1, 29, 29, 0),
          "final11": (285, 0, 29, 30, 0), "final12": (292, 0, 30, 27, 2)}


def text_of(item) -> str:
    return item["text"] if isinstance(item, dict) else item


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_blind_set_floors(name, app, sim):
    data = yaml.safe_load((DATA / f"faq_eval_blind_{name}.yaml").read_text(encoding="utf-8"))
    bot = app.extensions["wxbot"]
    bot.features.password.passwords.rotate("cli", "eval", "EvalPw2345")
    answers = {e.id: e.answer for e in bot.features.faq.knowledge.get().entries}
    n = 0

    def ask(text: str) -> str:
        nonlocal n
        n += 1
        return sim.text(f"oBlind{n:08d}", text).content or ""

    right = wrong = 0
    for entry, items in data["on_topic"].items():
        for item in items:
            reply = ask(text_of(item))
            if reply == answers[entry]:
                right += 1
            elif reply in answers.values() or "EvalPw2345" in reply:
                wrong += 1
    passwords = sum("EvalPw2345" in ask(text_of(i)) for i in data["password"])
    orders = 0
    for item in data["order_reports"]:
        reply = ask(text_of(item))
        orders += ("登记" in reply or "工单" in reply) and reply not in answers.values()
    facts = sum(ask(text_of(i)) in answers.values() for i in data["off_topic"])
    floor_right, max_wrong, floor_pw, floor_orders, max_facts = FLOORS[name]
    measured = (right, wrong, passwords, orders, facts)
    assert right >= floor_right and wrong <= max_wrong and passwords >= floor_pw, measured
    assert orders >= floor_orders and facts <= max_facts, measured
