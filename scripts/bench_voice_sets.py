"""Utterances for scripts/bench_voice.py. None of these sentences is used by the tests or was used to tune the
grammar's margins; the commands are phrased in ways the speech grammar does not contain (polite wrappers,
plurals, "all", aliases in new places, digits), so the expected intent comes from the text itself."""

QUESTIONS = [
    "what is the capital of france", "who wrote romeo and juliet", "how far away is the moon",
    "what is the tallest mountain in the world", "how do i boil an egg", "why is the sky blue",
    "what should i cook for dinner tonight", "how many days are in a leap year", "what is the largest ocean on earth",
    "can you recommend a good book", "what is the speed of light", "who painted the mona lisa",
    "how many legs does a spider have", "what is the boiling point of water", "who was the first person on the moon",
    "what language do they speak in brazil", "how do airplanes stay in the air", "what is the biggest planet",
    "when did the second world war end", "how many continents are there", "what is the capital of japan",
    "why do cats purr", "how long does it take to bake bread", "what is the population of canada",
    "who invented the telephone", "what is the longest river in africa", "how does a rainbow form",
    "what time is sunset today", "tell me something interesting about octopuses", "what is the weather like in london",
    "how many bones are in the human body", "what rhymes with orange", "who is the author of harry potter",
    "what is the difference between a frog and a toad", "how do i make a cup of tea", "what is photosynthesis",
]

COMMANDS = [
    "please turn on the kitchen light", "could you switch off the bedroom fan", "can you turn the bathroom heater off",
    "turn on the office desk lamp for me", "turn off the lamp in the study please", "switch the study lamp on",
    "please switch on the heating in the lounge", "turn the lounge lamp off thanks", "could you turn off the kitchen fan",
    "can you switch the bathroom light on please", "turn off the kitchen lights", "switch on the bedroom lights",
    "please turn off the bedroom fans", "turn on all the lights", "switch off all the fans",
    "turn off all the lights in the living room", "set all the lights to thirty percent",
    "please set the kitchen light to twenty five percent", "could you dim the lounge light to forty percent",
    "brighten the bathroom light to ninety percent", "set the study lamp to sixty percent please",
    "can you set the brightness of the floor lamp to fifteen percent",
    "please set the lounge thermostat to twenty degrees", "set the heating in the bedroom to twenty three degrees",
    "could you set the temperature in the lounge to eighteen degrees", "set the temperature of the bedroom to twenty",
    "is the heater in the bathroom on", "is the lamp in the study on", "is the lounge light on",
    "what's the temperature in the bedroom", "what is the temperature in the study", "what is the heating in the lounge set to",
    "what is the brightness of the study lamp", "what is the bathroom light set to",
    "please turn on the light in the lounge", "switch off the light in the kitchen please",
    "turn the fan in the kitchen on", "turn the heater in the bathroom off", "switch on the fan in the bedroom for me",
    "dim the desk lamp to five percent", "set the desk lamp to one hundred percent",
    "could you turn on the light", "please turn off the lamp", "turn off the fan in the kitchen please",
    "is the fan in the kitchen off", "turn the living room lights off please",
    "set the living room thermostat to twenty one degrees please", "please switch the office light off",
    "what is the temperature of the living room", "can you turn the floor lamp on",
]

UNKNOWN = [
    "turn on the hallway light", "switch off the garage light", "turn on the porch light",
    "turn off the dining room lamp", "set the hallway light to fifty percent", "turn on the television",
    "switch off the garden lights", "turn on the attic fan", "turn on the light in the hall", "turn off the kettle",
    "set the temperature in the garage to twenty degrees", "dim the patio lights to ten percent",
]

DEV_COMMANDS = [
    # Tuning set: the same home, other phrasings. Parser and recogniser changes are tuned on these and checked on
    # COMMANDS, which stays held out (`bench_voice.py --set dev` speaks these instead).
    "turn the kitchen light on please", "switch on the kitchen fan", "please switch off the bathroom heater",
    "turn on the bedroom fan", "could you turn the desk lamp off", "switch the floor lamp off please",
    "turn off the heating in the bedroom", "please turn the bedroom light off", "can you switch off the kitchen light",
    "would you turn on the bathroom light", "turn on the lights in the kitchen", "switch off the lights in the lounge",
    "okay turn on the bedroom lights", "turn off all the lights", "turn on all the fans",
    "switch on all the lights in the bedroom", "set all the lights to fifty percent",
    "set the bedroom light to seventy percent", "dim the kitchen light to ten percent please",
    "could you brighten the lounge lamp to eighty percent", "set the office light to forty five percent",
    "set the brightness of the bathroom light to thirty percent", "set the bedroom thermostat to nineteen degrees",
    "please set the heating in the living room to twenty two degrees",
    "set the temperature in the bedroom to twenty one degrees", "set the temperature of the lounge to nineteen",
    "is the kitchen fan on", "is the bedroom light off", "is the desk lamp on", "is the light in the bathroom on",
    "what is the temperature in the office", "what is the bedroom thermostat set to",
    "what is the brightness of the kitchen light", "what is the lounge lamp set to",
    "turn on the light in the bathroom please", "switch off the fan in the bedroom", "turn the light in the office on",
    "switch the heater in the bathroom on", "turn off the lamp in the lounge", "set the light in the kitchen to sixty percent",
    "hey turn off the light", "please switch on the fan", "turn the heater on", "is the heater off",
    "what is the temperature of the bedroom", "switch the bedroom fan off thank you",
    "turn the kitchen lights off for me", "dim the floor lamp to twenty percent",
    "please set the living room light to eighty five percent", "can you turn the heating in the bedroom up to twenty two degrees",
]
