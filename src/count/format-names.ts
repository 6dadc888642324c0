// The format presets by name, apart from the format compiler: the parent
// needs the names at every start, the compiler only when a format is given.

export const FORMAT_PRESETS: Record<string, string> = {
  combined: '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"',
  nginx: '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"',
  common: '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent',
  // Not a name nginx has: its combined with the two times most setups append (and what `generate --format nginx-timed` writes).
  "nginx-timed": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time',
  vhost_combined: 'apache:%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
};

/** Names the Combined fast path reads (a format string equal to theirs is taken as them). */
export const FAST_FORMATS = new Set(["combined", "nginx", "common"]);
