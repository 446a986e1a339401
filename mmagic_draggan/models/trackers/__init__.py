from .nearest_neighbour_tracker import NearestNeighbourTracker

__all__ = ['NearestNeighbourTracker']
