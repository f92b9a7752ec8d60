"""The local control plane that ``inferd up`` runs: it changes what the data plane runs, never
serves a prediction itself.

- :mod:`.replicas` — the supervisor, one replica process, how it is launched, restart backoff,
  and the topology (the routing table the gateway reads);
- :mod:`.admin` — the admin API on the gateway port and the CLI's client for it;
- :mod:`.gateway` — the one entry port: split, sticky, shadow, least-outstanding balancing;
- :mod:`.rollout` — canary, blue-green and A/B analysed against the stable version;
- :mod:`.autoscale` — replicas from inference signals, to and from zero;
- :mod:`.apply_plan`, :mod:`.reconciler`, :mod:`.up` — what an apply changes, carrying it out
  on the supervisor; run the whole stack.

Decisions are pure functions of (policy, observations); the loops around them are thin.
May import :mod:`inferd.spec`, :mod:`inferd.observe`, :mod:`inferd.store` and the kernel;
never the server, protocols or serving (replicas are other processes, reached over HTTP).
"""
