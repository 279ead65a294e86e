package store

import "github.com/redis/go-redis/v9"

// Each script is one atomic step: Redis runs it to the end before any other
// command, so no reader ever sees half an operation. Scripts name their
// fixed keys in KEYS; per-user keys are derived inside from ids, which is
// fine on a single Redis server. A Cluster refuses that (pytwis's keys
// fall into many slots), and runs cluster.go's single-key steps instead.

func script(src string) *redis.Script { return redis.NewScript(luaKeys.Replace(src)) }

// register: KEYS users, next_user_id, auths, folded names, folded count;
// ARGV username, hash, secret, folded username. Returns the new id; 0 when
// the name is taken; -1 when the folded names do not cover every user yet
// (fill them in, and try again); -2 when a name differing only in case is
// taken.
var registerScript = script(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if tonumber(redis.call('GET', KEYS[5]) or '0') ~= redis.call('HLEN', KEYS[1]) then return -1 end
if redis.call('HEXISTS', KEYS[4], ARGV[4]) == 1 then return -2 end
local id = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], id)
redis.call('HSET', '{user:}' .. id, '{username}', ARGV[1], '{password_hash}', ARGV[2], '{auth}', ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], id)
redis.call('HSET', KEYS[4], ARGV[4], id)
redis.call('INCR', KEYS[5])
return id
`)

// unregister: KEYS users, the folded names' count; ARGV a username, the id
// it is of. Takes the name out of users if it is still that id's (a second
// deletion at once may come after a new sign-up of the name), and out of
// the count if it counted it, so that the two stay equal: registerScript
// refolds every name when they differ, and a sign-up beside deletions
// would find them differ again and again.
var unregisterScript = script(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] and redis.call('HDEL', KEYS[1], ARGV[1]) == 1 and
   tonumber(redis.call('GET', KEYS[2]) or '0') > redis.call('HLEN', KEYS[1]) then
  redis.call('DECR', KEYS[2])
end
return 1
`)

// hdelIfScript: KEYS a hash; ARGV a field, a value. Deletes the field if
// it holds that value; returns 1 if it did.
var hdelIfScript = script(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
`)

// credentials: KEYS users; ARGV username. Returns {id, hash} or nil.
var credentialsScript = script(`
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
local h = redis.call('HGET', '{user:}' .. id, '{password_hash}')
return {id, h or ''}
`)

// authenticate: KEYS auths; ARGV secret. pytwis's _is_loggedin: the secret
// must map to a user whose current secret it still is. Returns
// {id, username, followers, following, unread notifications} or nil.
var authenticateScript = script(`
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
local u = redis.call('HMGET', '{user:}' .. id, '{auth}', '{username}')
if u[1] ~= ARGV[1] then return false end
return {id, u[2] or '', redis.call('ZCARD', '{follower:}' .. id), redis.call('ZCARD', '{following:}' .. id),
  redis.call('GET', '{unread:}' .. id) or '0'}
`)

// rotate: KEYS auths; ARGV old secret, new secret, new hash (” keeps it),
// expected current hash (checked when a new hash is given).
// Returns 1, 0 when the old secret is no longer current, -1 when the hash
// changed since it was verified.
var rotateScript = script(`
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return 0 end
local key = '{user:}' .. id
if redis.call('HGET', key, '{auth}') ~= ARGV[1] then return 0 end
if ARGV[3] ~= '' then
  if redis.call('HGET', key, '{password_hash}') ~= ARGV[4] then return -1 end
  redis.call('HSET', key, '{password_hash}', ARGV[3])
end
redis.call('HSET', key, '{auth}', ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], id)
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`)

// rehash: KEYS user:<id>; ARGV old hash, new hash. Replaces the hash only
// if nobody changed it since it was read. Returns 1 when replaced.
var rehashScript = script(`
if redis.call('HGET', KEYS[1], '{password_hash}') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], '{password_hash}', ARGV[2])
return 1
`)

// post: KEYS next_tweet_id, timeline, auths, the fan-out stream, and for a
// reply the replies list of the tweet it answers; ARGV user
// id (empty with a secret), unix time, body, general timeline cap, user
// timeline cap, its slack, the most followers pushed here, secret (or
// empty), the id of the tweet it replies to (or empty; the reply is listed
// under it, and counted in its hash), the users it mentions (space-separated,
// or empty), then its folded hashtags (it is listed in pytwask:tag:<tag>).
// Writes the tweet and pushes it onto the author's timeline, tweets_by and
// the general timeline. Up to that many followers' timelines get it here
// too; past it, a fan-out job goes onto the stream instead (fanout.go), so
// that no post holds Redis for long. Returns {id, author id, the followers
// it pushed to}, {0, ""} when the secret is not a current one, or {-1, ""}
// when the tweet it replies to does not exist (or was deleted).
var postScript = script(`
local uid = ARGV[1]
if ARGV[8] ~= '' then
  uid = redis.call('HGET', KEYS[3], ARGV[8])
  if not uid or redis.call('HGET', '{user:}' .. uid, '{auth}') ~= ARGV[8] then return {0, ''} end
end
if ARGV[9] ~= '' and (redis.call('EXISTS', '{tweet:}' .. ARGV[9]) == 0 or
    redis.call('HEXISTS', '{tweet:}' .. ARGV[9], '{deleted}') == 1) then return {-1, ''} end
local id = redis.call('INCR', KEYS[1])
redis.call('HSET', '{tweet:}' .. id, '{userid}', uid, '{unix_time}', ARGV[2], '{body}', ARGV[3])
if ARGV[9] ~= '' then
  redis.call('HSET', '{tweet:}' .. id, '{reply_to}', ARGV[9])
  redis.call('LPUSH', KEYS[5], id)
  redis.call('HINCRBY', '{tweet:}' .. ARGV[9], '{replies}', 1)
end
if ARGV[10] ~= '' then redis.call('HSET', '{tweet:}' .. id, '{mentions}', ARGV[10]) end
for i = 11, #ARGV do redis.call('LPUSH', '{tag:}' .. ARGV[i], id) end
` + pushLua + `
push(uid, id, tonumber(ARGV[5]), tonumber(ARGV[6]))
redis.call('LPUSH', '{tweets_by:}' .. uid, id)
redis.call('LPUSH', KEYS[2], id)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
local followers, reached = '{follower:}' .. uid, {}
if redis.call('ZCARD', followers) <= tonumber(ARGV[7]) then
  reached = redis.call('ZRANGE', followers, 0, -1)
  for _, f in ipairs(reached) do
    push(f, id, tonumber(ARGV[5]), tonumber(ARGV[6]))
  end
else
  redis.call('XADD', KEYS[4], '*', 'tweet', id, 'author', uid, 'time', ARGV[2])
end
return {id, uid, reached}
`)

// pushLua defines push(owner, id, cap, slack): LPUSH the tweet id onto the
// owner's timeline, and trim it back to cap once past its trim point
// (trimPoint in keys.go).
const pushLua = `
local function push(owner, id, ucap, slack)
  local key = '{timeline:}' .. owner
  local len = redis.call('LPUSH', key, id)
  local half = math.floor(slack / 2)
  if len <= ucap + half then return len end -- below every trim point
  local n, limit = tonumber(owner), ucap + slack
  if n and n >= 0 and n < 2^53 and n % 1 == 0 then limit = ucap + half + n % (half + 1) end
  if len > limit then
    redis.call('LTRIM', key, 0, ucap - 1)
  end
  return len
end
`

// follow: KEYS users; ARGV follower id, followee name, unix time, 'follow' or
// 'unfollow'. Returns the followee id, 0 when the follow was so already (a
// follow again still sets its time, as pytwis's does), -1 when no such
// user, -2 for oneself, -3 when the follower's account is being deleted
// (its deletion, which marks it first, would miss the new follow).
var followScript = script(`
local fid = redis.call('HGET', KEYS[1], ARGV[2])
if not fid then return -1 end
if fid == ARGV[1] then return -2 end
if redis.call('HEXISTS', '{user:}' .. ARGV[1], '{deleted}') == 1 then return -3 end
if ARGV[4] == 'follow' and redis.call('HEXISTS', '{user:}' .. fid, '{deleted}') == 1 then return -1 end
local changed
if ARGV[4] == 'follow' then
  changed = redis.call('ZADD', '{follower:}' .. fid, ARGV[3], ARGV[1])
  redis.call('ZADD', '{following:}' .. ARGV[1], ARGV[3], fid)
else
  changed = redis.call('ZREM', '{follower:}' .. fid, ARGV[1])
  redis.call('ZREM', '{following:}' .. ARGV[1], fid)
end
if changed == 0 then return 0 end
return tonumber(fid)
`)

// page: KEYS auths, users, timeline, generation key, and for feed 'list'
// the list; ARGV secret (” for nobody), feed ('general', 'own', 'by' or
// 'list'), username (for 'by'), start, stop, and the id of a tweet whose
// page it is (” for none). Everything a page needs from Redis but the
// tweets themselves and their counts, in one step: {generation, viewer,
// target, ids, marks, focus counts}, where viewer is {id, username,
// followers, following, unread} or nil (pytwis's _is_loggedin), target (for
// 'by') is {id, viewer follows (0/1), followers, following} or nil when no
// such user, ids is nil when the feed cannot be read ('own' without a
// viewer). For a viewer, marks is {liked, reposted, via}: liked and
// reposted are SMISMEMBER's replies for the page's tweet (if any) then each
// id; via, for the viewer's own timeline, the via hash's value for each id
// (HMGET's reply). Focus counts are the page's tweet's reply, repost and
// like counts.
var pageScript = script(`
local gen = redis.call('GET', KEYS[4]) or ''
local viewer = false
if ARGV[1] ~= '' then
  local id = redis.call('HGET', KEYS[1], ARGV[1])
  if id then
    local u = redis.call('HMGET', '{user:}' .. id, '{auth}', '{username}')
    if u[1] == ARGV[1] then
      viewer = {id, u[2] or '', redis.call('ZCARD', '{follower:}' .. id), redis.call('ZCARD', '{following:}' .. id),
        redis.call('GET', '{unread:}' .. id) or '0'}
    end
  end
end
local list, target = nil, false
if ARGV[2] == 'general' then
  list = KEYS[3]
elseif ARGV[2] == 'list' then
  list = KEYS[5]
elseif ARGV[2] == 'own' then
  if not viewer then return {gen, viewer, target, false} end
  list = '{timeline:}' .. viewer[1]
else
  local id = redis.call('HGET', KEYS[2], ARGV[3])
  if not id then return {gen, viewer, target, false} end
  local follows = 0
  if viewer and redis.call('ZSCORE', '{following:}' .. viewer[1], id) then follows = 1 end
  target = {id, follows, redis.call('ZCARD', '{follower:}' .. id), redis.call('ZCARD', '{following:}' .. id)}
  list = '{tweets_by:}' .. id
end
local ids, marks, focus = redis.call('LRANGE', list, ARGV[4], ARGV[5]), false, false
if ARGV[6] ~= '' then
  focus = redis.call('HMGET', '{tweet:}' .. ARGV[6], '{replies}', '{reposts}', '{likes}')
end
if viewer then
  local all = ids
  if ARGV[6] ~= '' then all = {ARGV[6], unpack(ids)} end
  -- cmd's replies for key and each of list, asked 500 at a time: a whole
  -- timeline (the CLI's "timeline -1") can hold more than unpack passes.
  local function each(cmd, key, list)
    if #list == 0 then return {} end
    local out = redis.call(cmd, key, unpack(list, 1, math.min(500, #list)))
    for i = 501, #list, 500 do
      for _, v in ipairs(redis.call(cmd, key, unpack(list, i, math.min(i + 499, #list)))) do out[#out + 1] = v end
    end
    return out
  end
  local via = {}
  if ARGV[2] == 'own' then via = each('HMGET', '{via:}' .. viewer[1] .. '}', ids) end
  marks = {each('SMISMEMBER', '{liked:}' .. viewer[1], all), each('SMISMEMBER', '{reposted:}' .. viewer[1], all), via}
end
return {gen, viewer, target, ids, marks, focus}
`)

// tweets: KEYS generation key; ARGV a new generation (set if the database
// has none and Redis takes the write: reads go on while it refuses writes,
// WritesRefused), then tweet ids. Returns the generation, then tweetFields values
// per id: id, user id, username, unix time, body, the id of the tweet it
// replies to (or ”), that tweet's author's name (” if it is gone, '-' if
// its author's account was deleted), the
// users it mentions and when it was last edited (” for never); the
// user id is ” when the tweet hash does not exist or is a deleted tweet's
// tombstone. Authors' names are looked up once per author per call.
var tweetsScript = script(`
local gen = redis.call('GET', KEYS[1])
if not gen then gen = ARGV[1]; redis.pcall('SET', KEYS[1], gen) end
local out, names = {gen}, {}
local function name(uid)
  if uid == '' then return '' end
  if not names[uid] then names[uid] = redis.call('HGET', '{user:}' .. uid, '{username}') or '' end
  return names[uid]
end
for i = 2, #ARGV do
  local tid = ARGV[i]
  local t = redis.call('HMGET', '{tweet:}' .. tid, '{userid}', '{unix_time}', '{body}', '{reply_to}', '{mentions}', '{deleted}', '{edited}')
  local uid, parent, parentName = t[1] or '', t[4] or '', ''
  if t[6] then uid = '' end
  if parent ~= '' then
    local p = redis.call('HMGET', '{tweet:}' .. parent, '{userid}', '{deleted}')
    if not p[2] then parentName = name(p[1] or '')
    elseif p[1] and redis.call('HEXISTS', '{user:}' .. p[1], '{deleted}') == 1 then parentName = '-' end
  end
  out[#out + 1] = tid
  out[#out + 1] = uid
  out[#out + 1] = name(uid)
  out[#out + 1] = t[2] or '0'
  out[#out + 1] = t[3] or ''
  out[#out + 1] = parent
  out[#out + 1] = parentName
  out[#out + 1] = t[5] or ''
  out[#out + 1] = t[7] or ''
end
return out
`)

// names: ARGV a sorted-set key. Returns the usernames of its member ids.
// namesPage: KEYS follower or following set; ARGV start, stop. Returns the
// set's size, then the usernames of its members from start to stop, newest
// follow first (users that are gone are skipped).
var namesPageScript = script(`
local out = {redis.call('ZCARD', KEYS[1])}
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2])) do
  local n = redis.call('HGET', '{user:}' .. id, '{username}')
  if n then out[#out + 1] = n end
end
return out
`)

var namesScript = script(`
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local n = redis.call('HGET', '{user:}' .. id, '{username}')
  if n then out[#out + 1] = n end
end
return out
`)
