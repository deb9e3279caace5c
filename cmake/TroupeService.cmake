# troupe_service(NAME name FACTORY function HEADER header [SOURCES ...])
#
# A service of the troupe binary: a static library troupe_<name> from
# SOURCES (default: every .cpp under the calling folder), linked into the
# binary, whose host starts it by calling FACTORY (declared in HEADER, a
# path under services/). Services start in the order of their folders.
function(troupe_service)
  cmake_parse_arguments(arg "" "NAME;FACTORY;HEADER" "SOURCES" ${ARGN})
  foreach(required NAME FACTORY HEADER)
    if(NOT arg_${required})
      message(FATAL_ERROR "troupe_service: ${required} is required")
    endif()
  endforeach()
  set(sources ${arg_SOURCES})
  if(NOT sources)
    file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  endif()
  set(target troupe_${arg_NAME})
  add_library(${target} STATIC ${sources})
  target_include_directories(${target} PUBLIC ${CMAKE_SOURCE_DIR}/services)
  target_link_libraries(${target} PUBLIC troupe_runtime)
  set_property(GLOBAL APPEND PROPERTY TROUPE_SERVICE_TARGETS ${target})
  set_property(GLOBAL APPEND PROPERTY TROUPE_SERVICE_HEADERS ${arg_HEADER})
  set_property(GLOBAL APPEND PROPERTY TROUPE_SERVICE_FACTORIES ${arg_FACTORY})
endfunction()
