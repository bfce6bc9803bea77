// grpc.reflection.v1.ServerReflection, answered from the process's generated descriptors.
#ifndef STOCHA_SERVER_REFLECTION_V1_H_
#define STOCHA_SERVER_REFLECTION_V1_H_

#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.grpc.pb.h"

namespace stocha::server {

// Debian's libgrpc++ (1.51) serves only grpc.reflection.v1alpha, and current grpcurl,
// Postman and grpcui ask for v1 first. The two protocols are the same messages in another
// package; this serves v1 from the same descriptor pool as the v1alpha plugin does.
// Thread-safety: the service is immutable after construction; calls run concurrently.
class ReflectionV1Service final : public grpc::reflection::v1::ServerReflection::Service {
 public:
  // `services`: the full names ListServices reports.
  explicit ReflectionV1Service(std::vector<std::string> services);

  grpc::Status ServerReflectionInfo(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<grpc::reflection::v1::ServerReflectionResponse,
                               grpc::reflection::v1::ServerReflectionRequest>* stream) override;

 private:
  const std::vector<std::string> services_;
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_REFLECTION_V1_H_
