"""torch.compile of SEGNN emits no warning (issue 12, fault 8): the spherical harmonics' cached constants are
kept out of traced code, so dynamo does not warn about ``functools.lru_cache``."""

import logging
import warnings

import torch

from steertorch.models import SEGNN


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_compiled_segnn_runs_without_warnings():
    torch.manual_seed(0)
    model = SEGNN("1x0e", "1x0e", hidden_features=8, lmax_attr=2, num_layers=1)
    n = 5
    pos, x = torch.randn(n, 3), torch.randn(n, 1)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    edge_index = torch.tensor(pairs).T
    batch = torch.zeros(n, dtype=torch.long)
    torch._dynamo.reset()
    handler = _Records()
    logger = logging.getLogger("torch._dynamo")
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            compiled = torch.compile(model, fullgraph=False, backend="eager")
            out = compiled(x, pos, edge_index, batch=batch, num_graphs=1)
    finally:
        logger.removeHandler(handler)
        torch._dynamo.reset()
    messages = [str(w.message) for w in caught] + [r.getMessage() for r in handler.records]
    assert messages == []
    torch.testing.assert_close(out, model(x, pos, edge_index, batch=batch, num_graphs=1))
