// CountingInterceptor: PRE_SEND_STATUS -> RequestCounters::Record.
#include "server/request_accounting.h"

#include <string>

namespace stocha::server {
namespace {

namespace gx = grpc::experimental;

class CountingInterceptor final : public gx::Interceptor {
 public:
  CountingInterceptor(RequestCounters* counters, Rpc rpc) : counters_(counters), rpc_(rpc) {}

  void Intercept(gx::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_SEND_STATUS)) {
      counters_->Record(rpc_, static_cast<int>(methods->GetSendStatus().error_code()));
    }
    methods->Proceed();
  }

 private:
  RequestCounters* const counters_;
  const Rpc rpc_;
};

class CountingFactory final : public gx::ServerInterceptorFactoryInterface {
 public:
  explicit CountingFactory(RequestCounters* counters) : counters_(counters) {}
  gx::Interceptor* CreateServerInterceptor(gx::ServerRpcInfo* info) override {
    return new CountingInterceptor(counters_, RpcFromMethod(info->method()));
  }

 private:
  RequestCounters* const counters_;
};

}  // namespace

std::unique_ptr<gx::ServerInterceptorFactoryInterface> CountingInterceptors(
    RequestCounters* counters) {
  return std::make_unique<CountingFactory>(counters);
}

void RequestCountsToLoad(const RequestCounters& c, v1::Load* load) {
  uint64_t failed = 0;
  for (int code = 0; code < kNumStatusCodes; ++code) {
    const uint64_t n = c.GenerationTotal(code);
    switch (static_cast<grpc::StatusCode>(code)) {
      case grpc::StatusCode::OK:
        load->set_requests_completed(n);
        break;
      case grpc::StatusCode::CANCELLED:
        load->set_requests_cancelled(n);
        break;
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        load->set_requests_deadline_exceeded(n);
        break;
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        load->set_requests_rejected(n);
        break;
      default:
        failed += n;
        break;
    }
    for (int r = 0; r < kNumRpcs; ++r) {
      const uint64_t count = c.Get(static_cast<Rpc>(r), code);
      if (count == 0) continue;
      v1::RequestCount* rc = load->add_requests();
      rc->set_rpc(std::string(RpcName(static_cast<Rpc>(r))));
      rc->set_code(std::string(StatusCodeName(code)));
      rc->set_count(count);
    }
  }
  load->set_requests_failed(failed);
}

}  // namespace stocha::server
