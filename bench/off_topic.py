"""Off-topic questions for the answer benchmarks: things staff might ask that no shipped document
answers. Kept apart (no imports) so bench/answer_bench.py and bench/answer_quality.py share them
without one loading the other's dependencies.
"""

# Questions staff might ask that none of the 8 documents answers (key words checked against the PDF
# text; parking, fitness, childcare, dress code, bonuses and insurance are in the HR documents).
OFF_TOPIC = [
    "What is the password for the guest wifi in the office?",
    "What is on the cafeteria menu this week?",
    "How do my stock options vest after the first year?",
    "How many shares can I buy through the employee stock purchase plan?",
    "When is the end-of-year company party?",
    "How do I book a meeting room for Friday afternoon?",
    "Can I bring my dog to the office?",
    "How do I order a standing desk?",
    "What time does the shuttle bus leave from the train station?",
    "Where is the nearest colour printer on the third floor?",
    "Is there an employee discount on our own products?",
    "How do I sign up for the company softball team?",
    "Where is the lost and found?",
    "What are the opening hours of the mail room?",
    "Who won the last hackathon?",
    "How do I join the book club?",
    "Which snacks are in the vending machines?",
    "Can I rent a bicycle through the bike-sharing programme?",
    "When is the summer picnic this year?",
    "Which airline gives us a corporate discount on flights?",
    "Can I paint the walls of my cubicle?",
    "How do I change the thermostat temperature in my room?",
    "Where can I charge my electric car at the office?",
    "How do I order new business cards?",
    "Which version of Python should I install for the data team?",
    "When will the elevator in building B be repaired?",
    "What are the rules for the ping-pong table?",
    "Does the company offer pet insurance for cats and dogs?",
    "What time are the yoga classes on Wednesday?",
    "How do I subscribe to the internal newsletter?",
    "What is the recipe for the lasagna served on Thursdays?",
    "How do I get a new company mug?",
    "Who is the fire warden on the fourth floor?",
    "What is the company's rating on Glassdoor?",
    "Where can I find the org chart of the marketing team?",
    "How do I turn up the volume of the speakerphone in the conference room?",
    "Who can enter the costume contest at the karaoke night?",
    "How often are the office plants watered?",
    "What is the name of the company mascot?",
    "Who organises the Friday pizza evening?",
]

# Off-topic for the PDFs, but the samples (samples/policies) now hold a cycle-to-work scheme:
# an answer about leasing a bicycle there is fair, so the benchmarks over the samples leave it out.
NEAR_SAMPLES = frozenset({"Can I rent a bicycle through the bike-sharing programme?"})
