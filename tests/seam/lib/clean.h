// Fixture for tests/seam: a plain header.
#include <vector>
