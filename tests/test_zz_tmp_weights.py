import json
import bot.answering.extractive as ex
from tests.test_answer_examples import bot, kb, ask  # noqa: F401

VARIANTS = [{}, {"later": 0.0}, {"rank": 0.015}, {"length": 0.05}, {"restates": 0.0}, {"own_support": 0.0}, {"later": 0.0, "rank": 0.015}]
QS = ["How many days of annual leave do I get?", "How long must my password be?", "How much can I spend on a bike through the cycle to work scheme?", "How much is the transport reimbursement per km if I use my own car?"]

def test_variants(bot):  # noqa: F811
    base = dict(ex.WEIGHTS)
    for v in VARIANTS:
        ex.WEIGHTS.clear(); ex.WEIGHTS.update(base); ex.WEIGHTS.update(v)
        for q in QS:
            bot.answerer._vectors.clear() if hasattr(bot, "answerer") else None
            print("VARIANT", json.dumps(v), q, "->", ask(bot, q).text[:300], flush=True)
    ex.WEIGHTS.clear(); ex.WEIGHTS.update(base)
