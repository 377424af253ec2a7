# SPDX-License-Identifier: GPL-3.0-or-later
# The web UI (webui/): its npm packages from the lock file, type-checked and built by Vite into <bin>/../webui,
# where freeholdd finds it beside its executable; the build also writes the .gz/.br twins and enforces the size
# budget (webui/scripts/compress.mjs). Installed to share/freehold/webui.
option(FREEHOLD_WEBUI "Build the web UI (needs Node.js >= 20.19 and npm)" ON)
if(NOT FREEHOLD_WEBUI)
  return()
endif()
find_program(NPM npm REQUIRED)
find_program(NODE node REQUIRED)
execute_process(COMMAND "${NODE}" --version OUTPUT_VARIABLE node_version OUTPUT_STRIP_TRAILING_WHITESPACE)
string(REGEX REPLACE "^v" "" node_version "${node_version}")
if(node_version VERSION_LESS 20.19)
  message(FATAL_ERROR "The web UI's build (Vite 8) needs Node.js 20.19 or later; ${NODE} is ${node_version} "
                      "(Debian 12's nodejs is 18). Install a newer Node.js, or configure with -DFREEHOLD_WEBUI=OFF.")
endif()
set(webui_src "${PROJECT_SOURCE_DIR}/webui")
get_filename_component(FREEHOLD_WEBUI_DIR "${FREEHOLD_BIN_DIR}/../webui" ABSOLUTE)
set(webui_stamp "${CMAKE_BINARY_DIR}/webui-npm-ci.stamp")

add_custom_command(
  OUTPUT "${webui_stamp}"
  COMMAND "${NPM}" ci --no-audit --no-fund --loglevel=error
  COMMAND "${CMAKE_COMMAND}" -E touch "${webui_stamp}"
  DEPENDS "${webui_src}/package.json" "${webui_src}/package-lock.json"
  WORKING_DIRECTORY "${webui_src}"
  COMMENT "npm ci in webui/ (Preact, Vite, TypeScript, as pinned by package-lock.json)"
  VERBATIM)

file(GLOB_RECURSE webui_inputs CONFIGURE_DEPENDS "${webui_src}/src/*" "${webui_src}/public/*")
add_custom_command(
  OUTPUT "${FREEHOLD_WEBUI_DIR}/index.html"
  COMMAND "${NPM}" exec -- tsc --noEmit
  COMMAND "${NPM}" exec -- vite build --logLevel warn --emptyOutDir --outDir "${FREEHOLD_WEBUI_DIR}"
  DEPENDS "${webui_stamp}" ${webui_inputs} "${webui_src}/index.html" "${webui_src}/vite.config.mjs"
          "${webui_src}/tsconfig.json" "${webui_src}/scripts/compress.mjs"
  WORKING_DIRECTORY "${webui_src}"
  COMMENT "Building the web UI into ${FREEHOLD_WEBUI_DIR}"
  VERBATIM)
add_custom_target(webui ALL DEPENDS "${FREEHOLD_WEBUI_DIR}/index.html")
install(DIRECTORY "${FREEHOLD_WEBUI_DIR}/" DESTINATION "${CMAKE_INSTALL_DATADIR}/freehold/webui")
