"""Comparing big shadow answers happens off the event loop.

Decoding two 15 MB JSON answers and comparing them held the gateway's event loop for 0.8-1.2 s
(every client waited); answers over ``limits.inline_decode_bytes`` are now compared in a worker
thread, as the server decodes big bodies (:class:`inferd.protocols.offload.Decoder`), and small
ones still on the loop, where a thread hop would cost more than the comparison.
"""

from __future__ import annotations

import asyncio
import threading
from typing import cast

import orjson

from inferd.config import LimitSettings
from inferd.control.gateway.compare import Divergence
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.gateway.proxy import Proxy
from inferd.control.gateway.shadow import HTTP_ANSWERS, AnswerReader, Mirror
from inferd.control.gateway.upstream import UpstreamResponse


def _answer(rows: int) -> UpstreamResponse:
    data = [0.5] * (rows * 4)
    body = {"outputs": [{"name": "p", "datatype": "FP32", "shape": [rows, 4], "data": data}]}
    return UpstreamResponse(200, {"content-type": "application/json"}, orjson.dumps(body))


def _compared_on(answer: UpstreamResponse, inline_bytes: int) -> tuple[bool, int]:
    """Whether the comparison ran on the event loop's thread, and how many copies compared."""
    threads: list[int] = []

    def divergences(first: UpstreamResponse, second: UpstreamResponse) -> list[Divergence]:
        threads.append(threading.get_ident())
        return HTTP_ANSWERS.divergences(first, second)

    reader = AnswerReader(
        HTTP_ANSWERS.ok, divergences, HTTP_ANSWERS.client_error, HTTP_ANSWERS.size
    )

    async def scenario() -> tuple[bool, int]:
        limits = LimitSettings(inline_decode_bytes=inline_bytes)
        mirror = Mirror(cast(Proxy, None), GatewayMetrics(), timeout_s=5.0, limits=limits)

        async def send() -> UpstreamResponse:
            return answer

        mirror.copy("fraud", "v1", "v2", send, reader).set_result(answer)
        tally = mirror.tallies[("fraud", "v1", "v2")]
        while not tally.compared:
            await asyncio.sleep(0.01)
        return threads == [threading.get_ident()], tally.compared

    return asyncio.run(scenario())


def test_big_answers_are_compared_in_a_worker_thread() -> None:
    answer = _answer(rows=2_000)
    assert len(answer.body) > 16_384
    assert _compared_on(answer, inline_bytes=16_384) == (False, 1)


def test_small_answers_are_compared_on_the_loop() -> None:
    answer = _answer(rows=2)
    assert _compared_on(answer, inline_bytes=16_384) == (True, 1)
