// console_access.hpp: who may use the console. The token is compared in
// constant time and may come in a cookie; a wildcard bind address is served
// as 127.0.0.1 in the URLs the console prints. The console's public face
// (http_console.hpp) declares is_loopback_bind() and
// generate_console_token(); console_access.cpp defines them with the rest.
//
// Thread safety: pure functions (generate_console_token reads
// /dev/urandom).
#pragma once

#include <string>
#include <string_view>

namespace tandem {

/// Equal strings, in a time that depends only on the length of `secret`.
bool constant_time_equal(std::string_view given, std::string_view secret);

/// The value of cookie `name` in a Cookie header ("a=1; b=2"); "" if absent.
std::string cookie_value(const std::string& header, const std::string& name);

/// Whether `bind` listens on every address ("", 0.0.0.0, ::, [::], *).
bool is_wildcard(const std::string& bind);

} // namespace tandem
