"""The ``inferd.yaml`` spec: what a deployment should be, read by both the control plane
(``inferd up``) and the Kubernetes renderer (``inferd k8s render``).

- :mod:`.model` — the pydantic models (:class:`Spec`, :class:`DeploymentSpec`, …) and the JSON
  Schema published for editors;
- :mod:`.policies` — the ``rollout`` (with its analysis), ``autoscaling`` and ``slo`` sections;
- :mod:`.cost` — the ``cost`` section (prices per resource or per node);
- :mod:`.llm` — the ``llm`` section (engine, context, concurrency, shape);
- :mod:`.observability` — payload logging and tracing sections;
- :mod:`.types` — the value types (durations, quantities, DNS labels, header names) and the
  strict base every section derives from;
- :mod:`.rules` — cross-field rules, reported as problems with a path;
- :mod:`.loading` — reading a file or text, with problems pointing at the line;
- :mod:`.rechecks` — the rules pydantic skipped for a field error elsewhere, judged anyway;
- :mod:`.messages` — problems in a YAML author's words;
- :mod:`.edits` — pure edits (versions, weights, replicas) the rollout and autoscaler apply.

May import only the kernel (``errors``, ``config``, ``datatypes``, ``card``).
"""
