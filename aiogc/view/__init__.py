"""Views of a running model: the rich live terminal view (``aiogc.view.live``)."""
