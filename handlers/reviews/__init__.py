"""After-Action Reviews and End of Assignment interviews: one conversation engine, two kinds.

- `conversation`: the engine: entry points, states and fallbacks of a kind of review, the check
  step that finds a message's review once and the handle step it hands the turn to; the moves,
  closing and the facilitator's buttons, shared
- `aar`: what is the After-Action Review's: `/aar`, its thread, its routes and replies
- `aar_start`: starting, scheduling and staffing an AAR (`/aar start`, `schedule`, `invite`, …)
- `anonymous`: anonymous answers to an AAR, through a sealed private form
- `eoar`: what is the End of Assignment interview's: `/lessons eoar`, the DM, its replies
- `proposals`: proposed actions: the owner's card, accept, reassign, another date, decline
- `cards`: the pure reply builders both kinds (and the home page) share; button and form ids
- `config`: the question file, the start delay and the time box an admin may set
- `clock`: what the scheduler runs every tick: due starts, time boxes, one reminder

The state lives in the database (knowledge/reviews/).
"""
