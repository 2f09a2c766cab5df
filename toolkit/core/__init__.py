"""Core services shared by every engine: clocks and timers, the message bus, component lifecycle, logging, configs.

Nothing here knows about venues, orders or strategies beyond the value types of `toolkit.model`. The kernel
builds one clock, one message bus and one logger setup per node and hands them to the components it wires;
there are no module-level singletons.
"""
