"""The admin API of a running ``inferd up`` (:mod:`.api`: apply, status, rollout actions, behind a
bearer token) and the synchronous client the CLI uses to call it (:mod:`.client`)."""
