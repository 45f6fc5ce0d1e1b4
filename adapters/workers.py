"""The thread pool that answers questions and indexes posts, apart from everything else.

The core is synchronous and slow (retrieval, a model call, parsing a PDF), so the front
ends run it in threads. It gets a pool of its own: asyncio's default executor also carries
the database claims that deduplicate events and botbuilder's HTTP calls to the Bot
Connector, and those must not queue behind answers (an acknowledgement that waits for
answers to finish misses the platform's timeout and brings redeliveries).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class Workers:
    def __init__(self, size: int | None = None) -> None:
        self.size = size or max(2, os.cpu_count() or 1)
        self._executor = ThreadPoolExecutor(self.size, thread_name_prefix="answer")

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
