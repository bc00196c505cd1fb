/* log.h — plain, greppable logging to stderr.
 *
 * Contract: one line per event, "TIME PROG[PID] LEVEL: message", TIME in UTC
 * RFC 3339 with milliseconds. Levels below the set level are dropped (default
 * info; --debug sets debug). Never pass secret values to these functions. */
#ifndef KENNEL_LOG_H
#define KENNEL_LOG_H

enum kn_log_level { KN_LOG_DEBUG, KN_LOG_INFO, KN_LOG_WARN, KN_LOG_ERROR };

void kn_log_init(const char *prog, enum kn_log_level level);
int kn_log_enabled(enum kn_log_level level);
void kn_log(enum kn_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) kn_log(KN_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) kn_log(KN_LOG_INFO, __VA_ARGS__)
#define log_warn(...) kn_log(KN_LOG_WARN, __VA_ARGS__)
#define log_error(...) kn_log(KN_LOG_ERROR, __VA_ARGS__)

#endif
