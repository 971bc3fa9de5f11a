"""A built-in English stopword list (no NLTK download): words BERT-Attack never replaces and
never substitutes in.

Function words, pronouns, auxiliaries and negations, as in the filter list of the BERT-Attack
reference code (Li et al., 2020), lower case.
"""

from __future__ import annotations

STOPWORDS: frozenset[str] = frozenset(
    """
    a about above across after afterwards again against ain all almost alone along already also
    although am among amongst an and another any anyhow anyone anything anyway anywhere are aren
    around as at back be became because become becomes becoming been before beforehand behind
    being below beside besides between beyond both but by can cannot could couldn d didn doesn
    don down due during each either else elsewhere enough even ever everyone everything
    everywhere except first for former formerly from hadn hasn haven having he hence her here
    hereafter hereby herein hereupon hers herself him himself his how however hundred i if in
    indeed into is isn it its itself just latter latterly least ll may me meanwhile mightn mine
    more moreover most mostly must mustn my myself namely needn neither never nevertheless next
    no nobody none noone nor not nothing now nowhere o of off on once one only onto or other
    others otherwise our ours ourselves out over per please s same shan shouldn should since so
    some somehow something sometime somewhere such t than that the their theirs them themselves
    then thence there thereafter thereby therefore therein thereupon these they this those
    through throughout thru thus to too toward towards under unless until up upon used ve was
    wasn we were weren what whatever when whence whenever where whereafter whereas whereby
    wherein whereupon wherever whether which while whither who whoever whole whom whose why
    with within without won wouldn would y yet you your yours yourself yourselves do does did
    doing done has have had will shall might very own few further own m re ma
    """.split()
)
