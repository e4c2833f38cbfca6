#pragma once

// Helpers shared by every parse function of the Caddyfile adapter: argument
// counting, value parsing (numbers, durations, sizes, status codes, IP
// ranges), and one function per error shape so that similar mistakes read
// the same everywhere (golden tests pin this wording).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/caddyfile/dispenser.h"
#include "core/config.h"

namespace usher::core::caddyfile {

// ------------------------------------------------------------ error shapes

/// "unknown KIND `NAME`[ in `OWNER`]" with a "did you mean" hint for a near
/// miss, else `fallback_hint`.
ConfigError unknown_name_error(const Token& at, std::string_view kind, std::string_view owner,
                               std::span<const std::string_view> known,
                               std::string fallback_hint = {});
/// "`NAME` expects WHAT": a required argument is missing.
ConfigError missing_arg_error(const Token& at, std::string_view name, std::string_view what);
/// "`NAME` takes at most N arguments, got M (`a`, `b`, `c`)".
ConfigError too_many_args_error(const Token& at, std::string_view name, size_t max,
                                const std::vector<Token>& args);
/// "invalid KIND `VALUE` for `NAME`; expected EXPECTED".
ConfigError invalid_value_error(const Token& at, std::string_view kind, std::string_view name,
                                std::string_view expected);
/// "`NAME` does not take a block".
ConfigError no_block_error(const Token& at, std::string_view name);
/// "WHAT is not supported yet".
ConfigError unsupported_error(const Token& at, std::string_view what, std::string hint = {});

/// The closest name in `known` within a small edit distance, or empty.
std::string_view suggest(std::string_view name, std::span<const std::string_view> known);
/// "`a`, `b` or `c`".
std::string quoted_list(std::span<const std::string_view> names);

// --------------------------------------------------------------- arguments

/// Consumes the rest of the line's arguments and checks their count;
/// `what` describes the expected arguments for the "expects" error.
std::vector<Token> take_args(Dispenser& d, std::string_view name, size_t min, size_t max,
                             std::string_view what);
/// Exactly one argument.
Token take_one(Dispenser& d, std::string_view name, std::string_view what);
/// No argument at all.
void take_none(Dispenser& d, std::string_view name);
/// Throws when the current line still has tokens (an argument or a block).
void expect_line_end(Dispenser& d, std::string_view name);
/// Throws when a parse function left any token of its segment unread.
void expect_segment_end(Dispenser& d, std::string_view name);

// ------------------------------------------------------------------ values

Duration parse_duration_arg(const Token& t, std::string_view name);
uint64_t parse_size_arg(const Token& t, std::string_view name);
int parse_int_arg(const Token& t, std::string_view name, int min, int max);
uint16_t parse_port_arg(const Token& t, std::string_view name);
/// An exact status code (`503`) or a class (`5xx` gives 5).
StatusMatch parse_status_match_arg(const Token& t, std::string_view name);
/// An HTTP status code from 100 to 599.
int parse_status_arg(const Token& t, std::string_view name);
/// An IP address or CIDR range, or `private_ranges` when allowed.
std::string parse_ip_range_arg(const Token& t, std::string_view name, bool allow_private);
/// One of `choices`.
std::string parse_choice_arg(const Token& t, std::string_view name,
                             std::span<const std::string_view> choices);

/// Parses a header operation as `header` writes it: `Name value`,
/// `+Name value`, `-Name`, `Name search replacement`, with an optional `>`
/// (defer) prefix when `response` is true.
HeaderOp parse_header_op(const Token& field, const std::vector<Token>& rest, bool response);

}  // namespace usher::core::caddyfile
