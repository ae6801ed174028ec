"""The goroutine scheduler: G, P (an asyncio event loop), run queues, traps, drivers, sysmon, sync."""
