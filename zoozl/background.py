"""Background sentences: generic chat no plugin serves, for open-set rejection."""

# Generic chat that is no plugin's intent: acknowledgements, small talk, statements
# about oneself or the world, questions about the bot, keyboard noise. Written from
# general knowledge of chat logs, not from the routing set; no requests (a plugin
# might serve any request), no greetings (the Hello plugin's), no numbers (a
# calculator's). Normalised like messages.
BACKGROUND = (
    # acknowledgements, reactions, yes and no
    "ok",
    "okay thank you",
    "thank you so much",
    "cool",
    "great",
    "nice one",
    "yeah sure",
    "maybe later",
    "i don't know",
    "haha",
    "that's funny",
    "wow",
    "oh really",
    "i see",
    "well done",
    "awesome",
    "sorry",
    "that's wrong",
    "you are stupid",
    "whatever",
    # statements about oneself and one's day
    "i feel sleepy",
    "i am hungry",
    "i am bored",
    "i had a long day",
    "my favourite colour is blue",
    "i work as a teacher",
    "i have two kids",
    "i like ice cream",
    "my dog is sleeping",
    "i'm at home now",
    "i went for a walk",
    # statements about the world; text not meant for a bot
    "the bus was late",
    "the car is parked outside",
    "see attachment",
    "dear sir or madam",
    "best regards",
    "kind regards, the sales team",
    # questions about the bot; trivia
    "who are you",
    "are you a robot",
    "when were you born",
    "where do you live",
    "do you like me",
    "what is the meaning of life",
    "who is the president",
    "how tall is mount everest",
    # keyboard noise
    "asdf",
    "qwerty",
    "xyz",
    "...",
    "?!",
    "aaaa",
    "blah blah",
    "random words",
    "banana",
)
