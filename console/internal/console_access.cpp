// console_access.cpp: see console_access.hpp.
#include "console/internal/console_access.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cctype>
#include <fstream>
#include <random>

#include "console/http_console.hpp"

namespace tandem {

bool constant_time_equal(std::string_view given, std::string_view secret) {
  unsigned char diff = given.size() == secret.size() ? 0 : 1;
  for (size_t i = 0; i < secret.size(); ++i)
    diff |= static_cast<unsigned char>((i < given.size() ? given[i] : 0) ^ secret[i]);
  return diff == 0;
}

std::string cookie_value(const std::string& header, const std::string& name) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos)
      end = header.size();
    size_t begin = header.find_first_not_of(' ', pos);
    if (begin < end && header.compare(begin, name.size() + 1, name + "=") == 0)
      return header.substr(begin + name.size() + 1, end - begin - name.size() - 1);
    pos = end + 1;
  }
  return {};
}

bool is_wildcard(const std::string& bind) {
  return bind.empty() || bind == "0.0.0.0" || bind == "::" || bind == "[::]" || bind == "*";
}

bool is_loopback_bind(const std::string& bind) {
  std::string host = bind;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  std::string lower;
  for (char c : host)
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "localhost")
    return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  return false;
}

std::string generate_console_token() {
  unsigned char bytes[16] = {};
  std::ifstream urandom{"/dev/urandom", std::ios::binary};
  if (!urandom.read(reinterpret_cast<char*>(bytes), sizeof(bytes))) {
    std::random_device rd; // no /dev/urandom (a chroot): the OS's other source
    for (auto& b : bytes)
      b = static_cast<unsigned char>(rd());
  }
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

} // namespace tandem
