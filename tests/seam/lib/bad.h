// Fixture for tests/seam: a header that includes gRPC.
#include <grpcpp/grpcpp.h>
