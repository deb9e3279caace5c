# Debian's libcivetweb-dev ships a CMake package that also imports the
# civetweb server binary, which lives in another package; find the library
# and header ourselves instead.
find_path(CIVETWEB_INCLUDE_DIR civetweb.h)
find_library(CIVETWEB_LIBRARY civetweb)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CivetWeb REQUIRED_VARS CIVETWEB_LIBRARY CIVETWEB_INCLUDE_DIR)
if(CivetWeb_FOUND AND NOT TARGET CivetWeb::civetweb)
  add_library(CivetWeb::civetweb UNKNOWN IMPORTED)
  set_target_properties(CivetWeb::civetweb PROPERTIES
    IMPORTED_LOCATION "${CIVETWEB_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CIVETWEB_INCLUDE_DIR}")
endif()
mark_as_advanced(CIVETWEB_INCLUDE_DIR CIVETWEB_LIBRARY)
