#include "builtin/reflection_service.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <deque>
#include <mutex>
#include <set>

#include "grpc/reflection/v1alpha/reflection.pb.h"

namespace troupe::rt::detail {

namespace rv1 = grpc::reflection::v1alpha;
using reflection_call = bidi_streaming<rv1::ServerReflectionRequest, rv1::ServerReflectionResponse>;

namespace {

// gRPC's error codes, as the reflection protocol carries them.
constexpr int not_found = 5;
constexpr int invalid_argument = 3;

/// One reflection stream: one answer per request, in order. The next
/// request is read only once the answer is in the stream's buffer.
class session final : public client_stream_handler<rv1::ServerReflectionRequest>,
                      public std::enable_shared_from_this<session> {
public:
  session(reflection_call call, std::function<std::vector<std::string>()> served)
    : call_(std::move(call)), served_(std::move(served)) {}

  void on_message(rv1::ServerReflectionRequest& req) override {
    rv1::ServerReflectionResponse resp;
    resp.set_valid_host(req.host());
    *resp.mutable_original_request() = req;
    answer(req, resp);
    send(std::move(resp));
  }

  void on_client_done() override { call_->finish(call_status::success()); }

private:
  void send(rv1::ServerReflectionResponse resp) {
    switch (call_->push(resp)) {
      case push_result::accepted:
        call_->grant(1);
        return;
      case push_result::full: {
        std::lock_guard<std::mutex> guard{mtx_};
        held_ = std::move(resp);
        call_->when_writable([weak = weak_from_this()] {
          if (auto self = weak.lock())
            self->retry();
        });
        return;
      }
      case push_result::ended:
        return;
    }
  }

  void retry() {
    rv1::ServerReflectionResponse resp;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      resp = std::move(held_);
    }
    send(std::move(resp));
  }

  void answer(const rv1::ServerReflectionRequest& req, rv1::ServerReflectionResponse& resp) {
    const auto* pool = google::protobuf::DescriptorPool::generated_pool();
    switch (req.message_request_case()) {
      case rv1::ServerReflectionRequest::kListServices:
        for (const auto& name : served_())
          resp.mutable_list_services_response()->add_service()->set_name(name);
        return;
      case rv1::ServerReflectionRequest::kFileByFilename:
        return file(pool->FindFileByName(req.file_by_filename()), "file " + req.file_by_filename(),
                    resp);
      case rv1::ServerReflectionRequest::kFileContainingSymbol:
        return file(pool->FindFileContainingSymbol(req.file_containing_symbol()),
                    "symbol " + req.file_containing_symbol(), resp);
      case rv1::ServerReflectionRequest::kFileContainingExtension: {
        const auto& ext = req.file_containing_extension();
        const auto* type = pool->FindMessageTypeByName(ext.containing_type());
        const auto* field =
          type ? pool->FindExtensionByNumber(type, ext.extension_number()) : nullptr;
        return file(field ? field->file() : nullptr,
                    "extension " + std::to_string(ext.extension_number()) + " of "
                      + ext.containing_type(),
                    resp);
      }
      case rv1::ServerReflectionRequest::kAllExtensionNumbersOfType: {
        const auto* type = pool->FindMessageTypeByName(req.all_extension_numbers_of_type());
        if (type == nullptr)
          return error(not_found, "type " + req.all_extension_numbers_of_type() + " not found",
                       resp);
        std::vector<const google::protobuf::FieldDescriptor*> fields;
        pool->FindAllExtensions(type, &fields);
        auto* out = resp.mutable_all_extension_numbers_response();
        out->set_base_type_name(type->full_name());
        for (const auto* f : fields)
          out->add_extension_number(f->number());
        return;
      }
      case rv1::ServerReflectionRequest::MESSAGE_REQUEST_NOT_SET:
        return error(invalid_argument, "message_request: none of its fields is set", resp);
    }
  }

  // The file, then whichever of its imports this stream has not had yet.
  void file(const google::protobuf::FileDescriptor* fd, const std::string& what,
            rv1::ServerReflectionResponse& resp) {
    if (fd == nullptr)
      return error(not_found, what + " not found", resp);
    auto* out = resp.mutable_file_descriptor_response();
    std::deque<const google::protobuf::FileDescriptor*> queue{fd};
    bool first = true;
    while (!queue.empty()) {
      const auto* f = queue.front();
      queue.pop_front();
      if (first || sent_.insert(f->name()).second) {
        sent_.insert(f->name());
        google::protobuf::FileDescriptorProto proto;
        f->CopyTo(&proto);
        proto.SerializeToString(out->add_file_descriptor_proto());
        for (int i = 0; i < f->dependency_count(); ++i)
          queue.push_back(f->dependency(i));
      }
      first = false;
    }
  }

  static void error(int code, std::string message, rv1::ServerReflectionResponse& resp) {
    resp.mutable_error_response()->set_error_code(code);
    resp.mutable_error_response()->set_error_message(std::move(message));
  }

  reflection_call call_;
  std::function<std::vector<std::string>()> served_;
  std::set<std::string> sent_; // only on_message touches it
  std::mutex mtx_;
  rv1::ServerReflectionResponse held_;
};

} // namespace

void reflection_service::start(service_context& ctx) {
  ctx.serve("grpc.reflection.v1alpha.ServerReflection")
    .bidi_streaming<rv1::ServerReflectionRequest, rv1::ServerReflectionResponse>(
      "ServerReflectionInfo")
    .handle([served = served_](reflection_call call) {
      auto s = std::make_shared<session>(call, served);
      call->start(s, 1);
    });
}

} // namespace troupe::rt::detail
