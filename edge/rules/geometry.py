"""Pure plane geometry on normalised coordinates: zones, points, boxes."""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]


def point_in_polygon(point: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd ray casting; points exactly on an edge may fall either way."""
    x, y = point
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < x_cross:
                inside = not inside
    return inside


def polygon_area(polygon: Sequence[Point]) -> float:
    """Unsigned shoelace area."""
    total = 0.0
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        total += x1 * y2 - x2 * y1
    return abs(total) / 2.0


def _segments_cross(a: Point, b: Point, c: Point, d: Point) -> bool:
    def orient(p: Point, q: Point, r: Point) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    o1, o2 = orient(a, b, c), orient(a, b, d)
    o3, o4 = orient(c, d, a), orient(c, d, b)
    return o1 * o2 < 0 and o3 * o4 < 0


def self_intersects(polygon: Sequence[Point]) -> bool:
    n = len(polygon)
    edges = [(polygon[i], polygon[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # neighbours through the closing edge share a corner
            if _segments_cross(*edges[i], *edges[j]):
                return True
    return False


def polygon_problem(polygon: Sequence[Point]) -> str | None:
    """What is wrong with a zone polygon an installer drew, or None when it is usable."""
    if len(polygon) < 3:
        return f"needs at least 3 points, got {len(polygon)}"
    for i, (x, y) in enumerate(polygon):
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            return f"point {i} ({x}, {y}) is outside the picture: coordinates are 0..1"
    if self_intersects(polygon):
        return "crosses itself: list the corners in order around the zone"
    if polygon_area(polygon) < 1e-4:
        return "has no area: its points are (nearly) on one line"
    return None
