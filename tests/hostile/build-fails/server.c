/* Hostile: does not compile, thousands of times over: every E1 is an assignment to a
   constant, an error each, expanded 3000 times by the macros below. */
#define E1 1 = 2;
#define E10 E1 E1 E1 E1 E1 E1 E1 E1 E1 E1
#define E100 E10 E10 E10 E10 E10 E10 E10 E10 E10 E10
#define E1000 E100 E100 E100 E100 E100 E100 E100 E100 E100 E100
int main(void) { E1000 E1000 E1000 return 0; }
