import numpy as np

from services.scoring.domain import rfm
from shared.contracts.customer_scores import RFM_SEGMENTS


def test_quintile_scores_and_direction() -> None:
    recency = np.arange(100, dtype=float)  # time since last purchase
    frequency = np.arange(100, dtype=float)
    monetary = np.arange(100, dtype=float)
    cuts, scores = rfm.score_population(recency, frequency, monetary)
    assert np.bincount(scores.recency)[1:].tolist() == [20] * 5
    assert scores.recency[0] == 5 and scores.recency[-1] == 1  # recent is better
    assert scores.frequency[0] == 1 and scores.frequency[-1] == 5
    assert scores.monetary[-1] == 5
    one = rfm.score_customer(cuts, recency=0.0, frequency=99.0, monetary=99.0)
    assert (one.recency, one.frequency, one.monetary, one.segment) == (5, 5, 5, "champions")


def test_ties_share_a_band() -> None:
    frequency = np.array([1] * 60 + [2] * 20 + [5] * 20, dtype=float)
    _, scores = rfm.score_population(np.zeros(100), frequency, np.ones(100))
    assert set(scores.frequency[:60].tolist()) == {1}
    assert len(set(scores.frequency[60:80].tolist())) == 1


def test_segment_mapping() -> None:
    cases = {
        (5, 5, 5): "champions",
        (5, 1, 1): "new",
        (4, 2, 3): "potential_loyalist",
        (3, 4, 4): "loyal",
        (1, 5, 5): "cant_lose",
        (2, 4, 4): "at_risk",
        (1, 3, 3): "at_risk",
        (3, 1, 2): "hibernating",
        (2, 2, 1): "hibernating",
        (1, 1, 2): "lost",
    }
    r, f, m = (np.array(values) for values in zip(*cases, strict=True))
    assert rfm.segment(r, f, m).tolist() == list(cases.values())


def test_every_score_combination_has_a_segment_the_scores_message_names() -> None:
    grid = np.array(np.meshgrid(*[np.arange(1, 6)] * 3)).reshape(3, -1)
    names = set(rfm.segment(*grid).tolist())
    assert names == set(RFM_SEGMENTS)
