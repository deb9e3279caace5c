# troupe_proto_library(TARGET ROOT dir [PROTOS file...] [GRPC])
#
# Generates C++ for .proto files (all under ROOT, recursively, unless PROTOS
# names them) into a static library TARGET. Import paths are relative to
# ROOT, and so are the generated headers: ROOT/a/b.proto gives "a/b.pb.h".
# GRPC also generates the gRPC stubs ("a/b.grpc.pb.h", e.g. for
# `ctx.serve<a::B>()` and for clients).
function(troupe_proto_library target)
  cmake_parse_arguments(arg "GRPC" "ROOT" "PROTOS" ${ARGN})
  if(NOT arg_ROOT)
    message(FATAL_ERROR "troupe_proto_library(${target}): ROOT is required")
  endif()
  get_filename_component(root ${arg_ROOT} ABSOLUTE)
  set(protos ${arg_PROTOS})
  if(NOT protos)
    file(GLOB_RECURSE protos CONFIGURE_DEPENDS ${root}/*.proto)
  endif()
  set(gen ${CMAKE_CURRENT_BINARY_DIR}/${target}_gen)
  file(MAKE_DIRECTORY ${gen})
  set(sources)
  foreach(proto ${protos})
    get_filename_component(proto ${proto} ABSOLUTE)
    file(RELATIVE_PATH rel ${root} ${proto})
    string(REGEX REPLACE "\\.proto$" "" stem ${rel})
    set(outs ${gen}/${stem}.pb.cc ${gen}/${stem}.pb.h)
    set(grpc_args)
    if(arg_GRPC)
      list(APPEND outs ${gen}/${stem}.grpc.pb.cc ${gen}/${stem}.grpc.pb.h)
      set(grpc_args --grpc_out=${gen} --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>)
    endif()
    add_custom_command(
      OUTPUT ${outs}
      COMMAND protobuf::protoc --proto_path=${root} --cpp_out=${gen} ${grpc_args} ${proto}
      DEPENDS ${proto} protobuf::protoc gRPC::grpc_cpp_plugin
      COMMENT "protoc ${rel}")
    list(APPEND sources ${outs})
  endforeach()
  add_library(${target} STATIC ${sources})
  target_include_directories(${target} SYSTEM PUBLIC ${gen})
  target_link_libraries(${target} PUBLIC gRPC::grpc++ protobuf::libprotobuf)
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  # Generated code is not ours to keep warning-free.
  target_compile_options(${target} PRIVATE -w)
endfunction()
