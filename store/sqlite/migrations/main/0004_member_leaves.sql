-- The MLS leaf index of a member device in its conversation's group, as
-- the committing client declared it (added_leaves), so that the server
-- can name the leaf in an external Remove proposal. NULL: unknown.
ALTER TABLE conversation_members ADD COLUMN leaf_index INTEGER;
