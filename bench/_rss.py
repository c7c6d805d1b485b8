"""Peak memory of an ingest: the writing process plus its background reader process."""
import resource


def peak_rss_mb() -> float:
    """Peak RSS of this process + the largest child (the reader), in MB: an upper bound of the footprint."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024
