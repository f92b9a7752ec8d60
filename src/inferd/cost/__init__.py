"""Cost: prices, accounting and right-sizing, as pure functions of the spec and measurements.

- :mod:`.capacity` — what a replica holds (its requests; one core and its peak RSS where none
  is set) and uses;
- :mod:`.prices` — what capacity costs per hour from the spec's ``cost:`` prices;
- :mod:`.accounting` — a window's intervals added up per version: held, used, work, money,
  cost per 1k predictions and per 1M tokens, idle money, scale-to-zero savings;
- :mod:`.usage` and :mod:`.recommend` — right-sizing with the arithmetic shown;
- :mod:`.patch` — the proposals written into a spec file for ``inferd apply``.

Nothing here measures, reads a clock or a file: ``inferd up``'s sampler
(:mod:`inferd.control.cost`) measures and calls these. It imports only the spec and the kernel.
"""
