"""Jobs: work too long for one request (a grant to a segment), run by the workers' schedulers."""
