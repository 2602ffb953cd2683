-- move_done.lua: the last step of a stock move: the source bucket forgets a move that was
-- given (or voided) by move_give.lua.
--
-- KEYS[1]  {c:<source>}:moves   hash: move id -> 'n|target slot|epoch'
-- ARGV[1]  move id
--
-- Returns 1 when the move was logged, 0 when it was already forgotten (a repeat is harmless).
return redis.call('HDEL', KEYS[1], ARGV[1])
