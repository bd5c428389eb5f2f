# HeaderCheck.cmake: every header of tandem compiles on its own.
#
# For each header, a tiny source under build/header_check/ includes it twice
# (the second include checks its #pragma once); the sources of one library's
# headers form an object library that is part of the default build, so
# scripts/build.sh, and CI through scripts/test.sh, fails as soon as a header
# misses an include of its own. Each group compiles with the usage
# requirements of the library its headers belong to (plus that library's
# private dependencies where its headers may use them), so a header also
# fails when it reaches for a package its library does not declare.
# `cmake --build build --target header_check` builds only these.
#
# Headers are found by globbing (CONFIGURE_DEPENDS: a new header joins at the
# next build). Configuring fails when a header under a component directory
# belongs to no group, so a new directory cannot slip past the check.

option(TANDEM_HEADER_CHECK "compile every header on its own as part of the build" ON)
if(NOT TANDEM_HEADER_CHECK)
  return()
endif()

add_custom_target(header_check)

# tandem_check_headers(<group> LIBS <targets...> GLOB <patterns...>
#                      [GLOB_RECURSE <patterns...>] [SKIP <headers...>])
# Patterns and SKIP entries are relative to the repository root. SKIP marks
# headers that another group checks or that are deliberately left out; they
# still count as covered.
function(tandem_check_headers group)
  cmake_parse_arguments(H "" "" "LIBS;GLOB;GLOB_RECURSE;SKIP" ${ARGN})
  set(headers)
  foreach(mode GLOB GLOB_RECURSE)
    foreach(pattern IN LISTS H_${mode})
      file(${mode} found CONFIGURE_DEPENDS RELATIVE ${TANDEM_ROOT} ${TANDEM_ROOT}/${pattern})
      list(APPEND headers ${found})
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES headers)
  set_property(GLOBAL APPEND PROPERTY tandem_header_check_covered ${headers} ${H_SKIP})
  if(H_SKIP)
    list(REMOVE_ITEM headers ${H_SKIP})
  endif()
  if(NOT headers)
    return()
  endif()
  list(SORT headers)
  set(sources)
  foreach(header IN LISTS headers)
    string(MAKE_C_IDENTIFIER "${header}" id)
    set(source ${CMAKE_BINARY_DIR}/header_check/${id}.cpp)
    # file(CONFIGURE) rewrites only when the text changes: no needless rebuilds.
    file(CONFIGURE OUTPUT ${source}
         CONTENT "#include \"${header}\"\n#include \"${header}\" // #pragma once\n")
    list(APPEND sources ${source})
  endforeach()
  add_library(header_check_${group} OBJECT ${sources})
  target_link_libraries(header_check_${group} PRIVATE ${H_LIBS})
  add_dependencies(header_check header_check_${group})
endfunction()

# Fails configuring when a header under `dirs` is in no group.
function(tandem_header_check_coverage)
  set(all)
  foreach(dir IN LISTS ARGN)
    file(GLOB_RECURSE found CONFIGURE_DEPENDS RELATIVE ${TANDEM_ROOT}
         ${TANDEM_ROOT}/${dir}/*.hpp ${TANDEM_ROOT}/${dir}/*.h)
    list(APPEND all ${found})
  endforeach()
  get_property(covered GLOBAL PROPERTY tandem_header_check_covered)
  set(missing ${all})
  if(covered)
    list(REMOVE_ITEM missing ${covered})
  endif()
  if(missing)
    list(JOIN missing ", " missing)
    message(FATAL_ERROR "cmake/HeaderCheck.cmake: no header-check group covers ${missing}; "
                        "add its directory to a tandem_check_headers() call there")
  endif()
endfunction()

# -- the groups: one per library ------------------------------------------------

# Need the CUDA runtime and NCCL headers: checked with tandem_nccl when it is
# built (runtime/nccl/CMakeLists.txt decides), otherwise not at all.
set(_tandem_cuda_headers
  runtime/nccl/nccl_collective.hpp
  runtime/nccl/raw_broadcast.hpp
  runtime/nccl/internal/cuda_errors.hpp)

# Skipped by default: they include LibTorch (<torch/torch.h>, or ATen for
# grpo_loss.hpp). Checking them costs ~13 s of CPU and ~1 GB each, measured
# 64 s of CPU for five of them (about half a minute more CI at -j2), against
# 76 s for all 99 other headers together. And the check would find nothing
# new: each is the first include of its own .cpp (models/grpo_loss.cpp,
# models/internal/<name>.cpp), so the regular build already compiles it on
# its own. Keep it that way; -DTANDEM_HEADER_CHECK_TORCH=ON checks them too.
set(_tandem_torch_headers
  models/grpo_loss.hpp
  models/internal/adamw_state.hpp
  models/internal/data_parallel.hpp
  models/internal/device_precision.hpp
  models/internal/fast_decoder.hpp
  models/internal/learner_step.hpp
  models/internal/learner_validation.hpp
  models/internal/transformer.hpp)
option(TANDEM_HEADER_CHECK_TORCH "also check the headers that include LibTorch" OFF)

tandem_check_headers(runtime LIBS tandem_runtime GLOB runtime/*.hpp runtime/*.h)
tandem_check_headers(transport LIBS tandem_transport GLOB_RECURSE runtime/transport/*.hpp)
tandem_check_headers(broadcast LIBS tandem_broadcast GLOB_RECURSE runtime/nccl/*.hpp
                     SKIP ${_tandem_cuda_headers})
if(TARGET tandem_nccl)
  tandem_check_headers(nccl LIBS tandem_nccl GLOB ${_tandem_cuda_headers})
endif()
tandem_check_headers(tasks LIBS tandem_tasks GLOB_RECURSE tasks/*.hpp)
tandem_check_headers(models LIBS tandem_models tandem_hf_config GLOB_RECURSE models/*.hpp
                     SKIP ${_tandem_torch_headers})
if(TANDEM_HEADER_CHECK_TORCH)
  tandem_check_headers(models_torch LIBS tandem_models ${TORCH_LIBRARIES}
                       GLOB ${_tandem_torch_headers})
endif()
tandem_check_headers(topology LIBS tandem_topology tandem_tasks tandem_hf_config yaml-cpp
                     GLOB_RECURSE topology/*.hpp)
tandem_check_headers(actors LIBS tandem_actors GLOB_RECURSE actors/*.hpp)
tandem_check_headers(wiring LIBS tandem_wiring GLOB_RECURSE wiring/*.hpp)
# tandem_actors too: prometheus_text.hpp reads the actor registry's types;
# cpp-httplib (private to tandem_console) for internal/bounded_task_queue.hpp.
tandem_check_headers(console LIBS tandem_console tandem_actors tandem::httplib
                     GLOB_RECURSE console/*.hpp)
tandem_check_headers(app LIBS tandem_app GLOB_RECURSE app/*.hpp)
if(EXISTS ${TANDEM_ROOT}/bench/CMakeLists.txt)
  tandem_check_headers(bench LIBS tandem_bench GLOB_RECURSE bench/*.hpp)
  tandem_header_check_coverage(bench)
endif()

tandem_header_check_coverage(runtime tasks models topology actors console wiring app)
