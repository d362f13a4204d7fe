"""Op families. Importing this package registers every core op."""
from ir.ops import elementwise, reduction, linalg, window, movement, random, fused, loop  # noqa: F401
