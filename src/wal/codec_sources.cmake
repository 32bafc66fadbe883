# Control-record codecs, replay helpers and encryption primitives (owned by
# the codecs part). A CMakeLists.txt that includes this file gets
# ${SIDEWAL_CODEC_SOURCES}; they need sidewal_common and OpenSSL::Crypto.
set(SIDEWAL_CODEC_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/control_records.cc
  ${CMAKE_CURRENT_LIST_DIR}/record_cipher.cc
  ${CMAKE_CURRENT_LIST_DIR}/secure_key.cc
  ${CMAKE_CURRENT_LIST_DIR}/tombstones.cc
)
