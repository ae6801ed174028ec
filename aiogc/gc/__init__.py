"""The concurrent garbage collector model: heap, roots, mark, pacer, cycle, workers, assists."""
