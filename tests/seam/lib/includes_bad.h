// Fixture for tests/seam: includes a header that includes gRPC.
#include "lib/bad.h"
