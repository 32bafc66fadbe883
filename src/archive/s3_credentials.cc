// Loading the S3 credentials (s3_object_store.h): from a directory of
// files (a Kubernetes Secret mounted as a directory) or from the environment.
#include "archive/s3_object_store.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "archive/s3_text.h"

namespace sidewal::archive {

namespace {

// *value is the trimmed content; kNotFound when the file does not exist.
Status read_secret_file(const std::string& path, std::string* value) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::FromErrno(err, "open " + path);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  *value = s3::trim(ss.str());
  return Status::Ok();
}

}  // namespace

Result<S3Credentials> load_s3_credentials_from_dir(const std::string& dir) {
  S3Credentials c;
  const std::string where = "S3 credentials directory " + dir;
  Status st = read_secret_file(dir + "/access_key_id", &c.access_key_id);
  if (!st.ok()) return Status::InvalidArgument(where + ": " + st.message());
  st = read_secret_file(dir + "/secret_access_key", &c.secret_access_key);
  if (!st.ok()) return Status::InvalidArgument(where + ": " + st.message());
  st = read_secret_file(dir + "/session_token", &c.session_token);
  if (!st.ok() && st.code() != Code::kNotFound) {
    return Status::InvalidArgument(where + ": " + st.message());
  }
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    return Status::InvalidArgument(where + ": access_key_id or secret_access_key is empty");
  }
  return c;
}

Result<S3Credentials> load_s3_credentials_from_env() {
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return v == nullptr ? std::string() : s3::trim(v);
  };
  S3Credentials c{env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN")};
  if (c.access_key_id.empty() && c.secret_access_key.empty()) {
    return Status::InvalidArgument(
        "no S3 credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set "
        "and no credentials directory was given");
  }
  if (c.access_key_id.empty()) {
    return Status::InvalidArgument(
        "S3 credentials: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
  }
  if (c.secret_access_key.empty()) {
    return Status::InvalidArgument(
        "S3 credentials: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  }
  return c;
}

Result<S3Credentials> load_s3_credentials(const std::string& dir) {
  if (!dir.empty()) return load_s3_credentials_from_dir(dir);
  return load_s3_credentials_from_env();
}

}  // namespace sidewal::archive
