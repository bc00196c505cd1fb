/* secret_rules.c — the fields of a secret (contract: secret_rules.h). */
#define _GNU_SOURCE /* memmem */
#include "common/secret_rules.h"

#include <string.h>
#include <strings.h>

#include "common/http.h"

static const char *const refused_headers[] = {
	"host", "content-length", "transfer-encoding", "connection", "upgrade", "te",
	"trailer", "keep-alive", "expect",
};

static int printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

const char *kn_secret_name_problem(const char *s, size_t len)
{
	if (len == 0 || len > KN_SECRET_NAME_MAX)
		return "a secret name has 1 to 128 characters";
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return "a secret name cannot be . or ..";
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return "a secret name may contain only letters, digits, '-', '_' and '.'";
	}
	return NULL;
}

const char *kn_secret_header_problem(const char *s, size_t len)
{
	if (len > KN_SECRET_HEADER_MAX || !http_is_token(s, len))
		return "the header must be an HTTP field name (letters, digits and "
		       "!#$%&'*+-.^_`|~) of 1 to 64 characters";
	for (size_t i = 0; i < sizeof(refused_headers) / sizeof(refused_headers[0]); i++)
		if (strlen(refused_headers[i]) == len && !strncasecmp(s, refused_headers[i], len))
			return "the header frames or routes the request; a secret cannot be "
			       "injected into it";
	if (len >= 6 && !strncasecmp(s, "proxy-", 6))
		return "the header is for the proxy, not the server";
	return NULL;
}

#define BASIC_OPEN "{basic:"

const char *kn_secret_format_parse(const char *s, size_t len, struct kn_secret_slot *slot)
{
	static const char exactly_one[] = "the format must contain exactly one {} or {basic:USER} "
					  "(where the value goes)";
	if (len > KN_SECRET_FORMAT_MAX || !printable(s, len))
		return "the format must be printable ASCII of at most 256 characters";
	size_t found = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '{')
			continue;
		if (i + 1 < len && s[i + 1] == '}') {
			*slot = (struct kn_secret_slot){ .start = i, .len = 2 };
			found++;
			i++;
			continue;
		}
		size_t open = sizeof(BASIC_OPEN) - 1;
		if (len - i < open || memcmp(s + i, BASIC_OPEN, open) != 0)
			continue;
		const char *close = memchr(s + i + open, '}', len - i - open);
		if (!close)
			return "the format has {basic: without a closing }";
		size_t ulen = (size_t)(close - (s + i + open));
		if (ulen == 0 || ulen > KN_SECRET_BASIC_USER_MAX)
			return "the user of {basic:USER} has 1 to 64 characters";
		for (size_t k = 0; k < ulen; k++) {
			char c = s[i + open + k];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
				return "the user of {basic:USER} may contain only letters, digits, "
				       "'-', '_' and '.'";
		}
		*slot = (struct kn_secret_slot){ .start = i, .len = open + ulen + 1,
						 .user = s + i + open, .user_len = ulen };
		found++;
		i += open + ulen;
	}
	return found == 1 ? NULL : exactly_one;
}

const char *kn_secret_format_problem(const char *s, size_t len)
{
	struct kn_secret_slot slot;
	return kn_secret_format_parse(s, len, &slot);
}

const char *kn_secret_value_problem(const char *s, size_t len)
{
	if (len == 0 || len > KN_SECRET_VALUE_MAX || !printable(s, len))
		return "the value must be 1 to 8192 characters of printable ASCII (no line breaks)";
	return NULL;
}
