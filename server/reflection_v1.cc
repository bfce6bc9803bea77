// ReflectionV1Service: one answer per request, files with their dependencies, each file
// sent once per stream (as the upstream v1alpha service does).
#include "server/reflection_v1.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <utility>

#include "absl/container/flat_hash_set.h"

namespace stocha::server {
namespace {

namespace pb = google::protobuf;
using grpc::reflection::v1::ServerReflectionRequest;
using grpc::reflection::v1::ServerReflectionResponse;

void Error(grpc::StatusCode code, const std::string& message, ServerReflectionResponse* out) {
  out->mutable_error_response()->set_error_code(code);
  out->mutable_error_response()->set_error_message(message);
}

// `file` and the dependencies not sent on this stream yet, dependencies first.
void AddFile(const pb::FileDescriptor* file, absl::flat_hash_set<std::string>* sent,
             ServerReflectionResponse* out) {
  if (!sent->insert(file->name()).second) {
    return;
  }
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddFile(file->dependency(i), sent, out);
  }
  pb::FileDescriptorProto proto;
  file->CopyTo(&proto);
  proto.SerializeToString(out->mutable_file_descriptor_response()->add_file_descriptor_proto());
}

// The requested file first (clients take the first as the answer), then what it needs.
void AnswerFile(const pb::FileDescriptor* file, const std::string& what,
                absl::flat_hash_set<std::string>* sent, ServerReflectionResponse* out) {
  if (file == nullptr) {
    Error(grpc::StatusCode::NOT_FOUND, what + " not found", out);
    return;
  }
  pb::FileDescriptorProto proto;
  file->CopyTo(&proto);
  proto.SerializeToString(out->mutable_file_descriptor_response()->add_file_descriptor_proto());
  sent->insert(file->name());
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddFile(file->dependency(i), sent, out);
  }
}

}  // namespace

ReflectionV1Service::ReflectionV1Service(std::vector<std::string> services)
    : services_(std::move(services)) {}

grpc::Status ReflectionV1Service::ServerReflectionInfo(
    grpc::ServerContext* /*context*/,
    grpc::ServerReaderWriter<ServerReflectionResponse, ServerReflectionRequest>* stream) {
  const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
  absl::flat_hash_set<std::string> sent;
  ServerReflectionRequest req;
  while (stream->Read(&req)) {
    ServerReflectionResponse resp;
    resp.set_valid_host(req.host());
    *resp.mutable_original_request() = req;
    switch (req.message_request_case()) {
      case ServerReflectionRequest::kFileByFilename:
        AnswerFile(pool->FindFileByName(req.file_by_filename()), "file " + req.file_by_filename(),
                   &sent, &resp);
        break;
      case ServerReflectionRequest::kFileContainingSymbol:
        AnswerFile(pool->FindFileContainingSymbol(req.file_containing_symbol()),
                   "symbol " + req.file_containing_symbol(), &sent, &resp);
        break;
      case ServerReflectionRequest::kFileContainingExtension: {
        const auto& e = req.file_containing_extension();
        const pb::Descriptor* type = pool->FindMessageTypeByName(e.containing_type());
        const pb::FieldDescriptor* ext =
            type == nullptr ? nullptr : pool->FindExtensionByNumber(type, e.extension_number());
        AnswerFile(
            ext == nullptr ? nullptr : ext->file(),
            "extension " + std::to_string(e.extension_number()) + " of " + e.containing_type(),
            &sent, &resp);
        break;
      }
      case ServerReflectionRequest::kAllExtensionNumbersOfType: {
        const pb::Descriptor* type =
            pool->FindMessageTypeByName(req.all_extension_numbers_of_type());
        if (type == nullptr) {
          Error(grpc::StatusCode::NOT_FOUND,
                "type " + req.all_extension_numbers_of_type() + " not found", &resp);
          break;
        }
        std::vector<const pb::FieldDescriptor*> extensions;
        pool->FindAllExtensions(type, &extensions);
        auto* numbers = resp.mutable_all_extension_numbers_response();
        numbers->set_base_type_name(type->full_name());
        for (const pb::FieldDescriptor* f : extensions) {
          numbers->add_extension_number(f->number());
        }
        break;
      }
      case ServerReflectionRequest::kListServices:
        for (const std::string& name : services_) {
          resp.mutable_list_services_response()->add_service()->set_name(name);
        }
        break;
      default:
        Error(grpc::StatusCode::UNIMPLEMENTED, "unknown request", &resp);
    }
    if (!stream->Write(resp)) {
      break;
    }
  }
  return grpc::Status::OK;
}

}  // namespace stocha::server
