"""Store commands: push, pull, tag, ls, inspect, rm, gc, history."""
